"""Orders that must not leave are refused before the broker, with an event (issue 11,
security): an approval above MAX_ORDER_NOTIONAL, and a sale of more than is held."""

from __future__ import annotations

from decimal import Decimal

from book.executor import Job
from position_manager import events
from position_manager.broker_types import OrderSide, TimeInForce
from rules.decisions import SubmitExit
from tests.support.worker_harness import Harness, risk_params


def _refusals(harness: Harness) -> list[dict[str, object]]:
    return [
        e for e in harness.events(events.POSITION_ERROR) if e["error_type"] == "OrderRefusedError"
    ]


def test_an_approval_above_the_notional_cap_is_refused_before_the_broker(
    harness: Harness,
) -> None:
    harness.start()
    before = len(harness.sim.simulator.engine.book.orders)
    harness.approve("AAPL", "buy", 10_000, "100")  # $1,000,000 against the $250,000 default
    assert len(harness.sim.simulator.engine.book.orders) == before  # never reached the broker
    assert harness.position_qty("AAPL") == 0
    (refusal,) = _refusals(harness)
    assert "MAX_ORDER_NOTIONAL" in str(refusal["message"])
    assert harness.client.xpending(events.RISK_STREAM, "pm-worker")["pending"] == 0  # handled


def test_a_sale_of_more_than_is_held_is_refused_before_the_broker(harness: Harness) -> None:
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    sim.feed_quote("AAPL", Decimal("99.99"), Decimal("100.01"), Decimal(100))
    risk_params(harness.client, "AAPL", atr="2", cap_class="large")
    worker = harness.start()
    before = len(sim.engine.book.orders)
    oversell = SubmitExit(
        "AAPL",
        OrderSide.SELL,
        Decimal(150),
        "market",
        None,
        False,
        TimeInForce.DAY,
        "pm-oversell-test",
        "stop_breach",
    )
    assert worker.submit(Job("AAPL", (oversell,), "test"))
    harness.settle()
    assert len(sim.engine.book.orders) == before
    assert harness.position_qty("AAPL") == 100
    (refusal,) = _refusals(harness)
    assert "flip" in str(refusal["message"])
    assert not worker.engine.retry.waiting("AAPL")  # not retried: the same order would fail
