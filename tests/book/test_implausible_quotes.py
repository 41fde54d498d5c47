"""Garbage that parses is not traded on (issue 11, plausibility): a quote that moves the price
more than QUOTE_CONFIRM_MOVE from the last known one is confirmed against the broker's latest
trade (`GET /v2/stocks/trades/latest`) before anything is decided on it. Before: a well-formed
forged quote at 1e30 sold AAPL in full, and a short quoted at 0.0001 was covered."""

from __future__ import annotations

from decimal import Decimal

from position_manager import events
from tests.support.worker_harness import Harness, risk_params


def _held(harness: Harness) -> None:
    sim = harness.sim.simulator
    sim.seed_positions(
        [("AAPL", Decimal(100), Decimal(100)), ("TSLA", Decimal(-50), Decimal(100))],
        marks={"AAPL": Decimal(100), "TSLA": Decimal(100)},
    )
    for symbol in ("AAPL", "TSLA"):
        sim.feed_quote(symbol, Decimal("99.99"), Decimal("100.01"), Decimal(100))
    risk_params(harness.client, "AAPL", atr="2", cap_class="large")
    risk_params(harness.client, "TSLA", atr="2", cap_class="large")
    harness.start()


def _implausible(harness: Harness) -> list[dict[str, object]]:
    return [
        e for e in harness.events(events.POSITION_ERROR) if e["error_type"] == "implausible_quote"
    ]


def test_a_forged_quote_far_above_the_market_sells_nothing(harness: Harness) -> None:
    _held(harness)
    stops = [(s.id, s.stop_price, s.qty) for s in harness.stops("AAPL")]
    best = harness.state("AAPL")["best_price"]
    harness.quote("AAPL", "1000000", forged=True)
    assert harness.position_qty("AAPL") == 100
    assert [(s.id, s.stop_price, s.qty) for s in harness.stops("AAPL")] == stops  # not trailed
    assert [o for o in harness.open_orders("AAPL") if not o.kind.is_stop] == []
    assert harness.events(events.POSITION_PROFIT_TAKING) == []
    assert harness.state("AAPL")["best_price"] == best  # nothing of it was believed
    (error,) = _implausible(harness)
    assert error["quote_price"] == "1000000"
    assert Decimal(str(error["broker_price"])) == 100


def test_a_forged_quote_near_zero_does_not_cover_a_short(harness: Harness) -> None:
    _held(harness)
    harness.quote("TSLA", "0.0001", spread="0.00001", forged=True)
    assert harness.position_qty("TSLA") == -50
    assert harness.events(events.POSITION_PROFIT_TAKING) == []
    assert [e["symbol"] for e in _implausible(harness)] == ["TSLA"]


def test_a_real_jump_the_broker_confirms_is_acted_on(harness: Harness) -> None:
    _held(harness)
    harness.quote("AAPL", "130")  # +30 % in one quote, and the market did trade there
    assert _implausible(harness) == []
    taking = harness.events(events.POSITION_PROFIT_TAKING)
    assert [t["trigger"] for t in taking] == ["profit_target_1"]
    assert harness.position_qty("AAPL") == 50


def test_no_answer_from_the_broker_means_no_action(harness: Harness) -> None:
    _held(harness)
    harness.sim.simulator.set_faults(fail_next=1, error_status=503, path_contains="trades/latest")
    harness.quote("AAPL", "130", broker_sees=False)
    harness.sim.simulator.clear_faults()
    assert harness.position_qty("AAPL") == 100
    assert harness.events(events.POSITION_PROFIT_TAKING) == []
    (error,) = _implausible(harness)
    assert "no answer" in str(error["message"])
    harness.quote("AAPL", "130")  # the next quote asks again, and the broker agrees
    assert harness.position_qty("AAPL") == 50
