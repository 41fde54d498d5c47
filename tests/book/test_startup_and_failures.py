"""The startup scan against a messy broker book, and failures handled on a timer."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest

from broker.alpaca_adapter import AlpacaBroker
from broker.errors import BrokerError
from broker.rate_limit import RateLimiter
from position_manager import events
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager.config import Settings
from streaming.worker import run_worker
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params


def _stop(harness: Harness, symbol: str, side: str, qty: int, price: str, cid: str) -> str:
    order = harness.broker.submit_order(
        OrderRequest(
            symbol,
            OrderSide(side),
            Decimal(qty),
            OrderKind.STOP,
            cid,
            TimeInForce.GTC,
            stop_price=Decimal(price),
        )
    )
    return str(order.id)


def test_startup_scan_protects_resizes_dedupes_and_cancels_orphans(harness: Harness) -> None:
    sim = harness.sim.simulator
    sim.seed_positions(
        [
            ("AAPL", Decimal(100), Decimal(100)),
            ("TSLA", Decimal(-50), Decimal(200)),
            ("MSFT", Decimal(30), Decimal(400)),
        ],
        marks={
            "AAPL": Decimal(100),
            "TSLA": Decimal(200),
            "MSFT": Decimal(400),
            "NVDA": Decimal(50),
        },
    )
    risk_params(harness.client, "AAPL", atr="1")
    wrong_size = _stop(harness, "MSFT", "sell", 20, "360", "manual-msft")
    # Alpaca reserves shares for open orders, so duplicates can only split the position.
    dup_a = _stop(harness, "TSLA", "buy", 25, "220", "manual-tsla-a")
    dup_b = _stop(harness, "TSLA", "buy", 25, "230", "manual-tsla-b")
    orphan = _stop(harness, "NVDA", "sell", 10, "45", "manual-nvda")

    worker = harness.start()
    summary = worker.summary
    assert summary is not None
    assert summary.positions == 3 and summary.protected == 2
    assert summary.stops_to_place == ["AAPL"]
    assert sorted(summary.stops_to_resize) == ["MSFT", "TSLA"]
    assert summary.duplicates_to_cancel == [dup_b]  # the tighter (lower) buy stop is kept
    assert summary.orphans_to_cancel == [orphan]
    assert [(s.qty, s.stop_price) for s in harness.stops("AAPL")] == [(100, Decimal("92.00"))]
    assert [(s.qty, s.stop_price) for s in harness.stops("MSFT")] == [(30, Decimal("360"))]
    tsla = harness.stops("TSLA")
    assert [(s.qty, s.stop_price) for s in tsla] == [(50, Decimal("220"))]
    assert harness.broker.get_order(dup_b).status == "canceled"
    assert harness.stops("NVDA") == []
    assert harness.broker.get_order(wrong_size).status == "replaced"
    assert harness.state("TSLA")["stop_order_id"] == tsla[0].id
    assert harness.broker.get_order(dup_a).status == "replaced"


def test_stop_placement_failure_then_retry_places_it(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="1")
    harness.sim.simulator.seed_positions(
        [("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)}
    )
    harness.sim.simulator.set_faults(fail_next=1, error_status=503, path_contains="POST /v2/orders")
    worker = harness.start()
    worker.engine.retry.initial = 0.05
    errors = harness.events(events.POSITION_ERROR)
    assert errors and errors[0]["action"] == "PlaceStop"
    assert harness.stops("AAPL") == []
    assert worker.engine.retry.waiting("AAPL")

    def placed() -> bool:
        if harness.stops("AAPL"):
            return True
        worker.process_batch(block_ms=10)
        worker.wait_idle(2)
        return False

    wait_until(placed, 5, "the failed stop was never retried", interval=0)
    assert [s.qty for s in harness.stops("AAPL")] == [100]
    assert harness.state("AAPL")["stop_order_id"]


def test_insufficient_buying_power_raises_position_error_without_retry(harness: Harness) -> None:
    # the notional cap (book.guard) would refuse it first: lift it to reach the broker's check
    harness.settings = harness.settings.model_copy(update={"max_order_notional": Decimal(10**12)})
    harness.start()
    harness.approve("AAPL", "buy", 10_000_000, "100")
    errors = harness.events(events.POSITION_ERROR)
    assert [e["error_type"] for e in errors] == ["InsufficientBuyingPowerError"]
    assert harness.client.xpending(events.RISK_STREAM, "pm-worker")["pending"] == 0
    assert harness.position_qty("AAPL") == 0


def test_cancelled_stop_is_replaced_with_a_new_generation(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    first = harness.stops("AAPL")[0]
    harness.broker.cancel_order(first.id)  # someone cancels it by hand: pending_cancel ...
    harness.broker_step()  # ... until it lands: order.canceled
    harness.settle()
    stops = harness.stops("AAPL")
    assert len(stops) == 1 and stops[0].id != first.id
    assert stops[0].client_order_id.endswith("-stop-g1")
    assert harness.state("AAPL")["stop_generation"] == "1"


def test_a_start_that_meets_429s_asks_again_and_protects_the_book(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the outside harness: a restart whose first `list_positions` got three 429s
    logged "worker failed" and exited 1, leaving every position to the schedule."""
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    sim.set_faults(fail_next=3, error_status=429, path_contains="GET /v2/positions")
    caplog.set_level(logging.WARNING, logger="broker.resilience")
    harness.start(startup_backoff=(0.001, 0.01))
    assert [s.qty for s in harness.stops("AAPL")] == [100]
    asked = [r for r in caplog.records if "broker not answering" in r.getMessage()]
    assert len(asked) == 3 and all("RateLimitedError" in r.getMessage() for r in asked)


def test_a_start_still_waiting_for_the_broker_stops_cleanly_when_asked(
    settings: Settings, harness: Harness
) -> None:
    harness.sim.simulator.set_faults(error_rate=1.0, error_status=503, path_contains="/v2/")
    stop = threading.Event()
    stop.set()  # SIGTERM while the broker still answers 503
    summary = run_worker(settings, harness.broker, harness.redis_url, stop)
    assert summary.positions == 0  # returned (exit 0), did not raise
    harness.sim.simulator.clear_faults()


def test_a_refused_login_at_start_is_not_asked_again(harness: Harness) -> None:
    """A 4xx (here 401, wrong keys) will fail the same way again: it is raised at once."""
    harness.broker = AlpacaBroker(
        "wrong", "keys", base_url=harness.sim.url, rate_limiter=RateLimiter(10_000, 60)
    )
    with pytest.raises(BrokerError):
        harness.start(startup_backoff=(0.001, 0.01))
