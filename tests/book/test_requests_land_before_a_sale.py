"""A sale that needs shares a stop holds waits for the request that frees them to land.

A full exit cancels the stop, then sells. At Alpaca the cancel answers 204 at once but the
stop stays `pending_cancel`, holding its shares, until the cancel lands (alpaca-notes, "The order
lifecycle is asynchronous"). The executor waits for it on its order thread, so the sale is not
refused for the shares the dying stop still holds. On the realistic simulator, over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis

from book.executor import Job, JobResult, OrderExecutor
from broker.alpaca_adapter import AlpacaBroker
from position_manager.broker_types import (
    BrokerOrder,
    OrderKind,
    OrderRequest,
    OrderSide,
    TimeInForce,
)
from rules.decisions import CancelOrder, SubmitExit
from rules.stop_orders import replace_stop
from simulator import SimulatorHandle, start_simulator
from simulator.config import EngineConfig, SimulatorConfig
from tests.support.simulator import REGULAR_AT, make_broker
from tests.support.waits import wait_until


@pytest.fixture
def realistic_live_clock(redis_url: str) -> Iterator[SimulatorHandle]:
    """Realistic lifecycle on a running clock (from 10:00 New York): requests land after their
    latency in real time, as at Alpaca."""
    handle = start_simulator(
        SimulatorConfig(engine=EngineConfig(lifecycle="realistic")),
        redis_url=redis_url,
        clock_start=REGULAR_AT,
        clock_speed=1.0,
        rate_limit=10_000,
    )
    yield handle
    handle.stop()


def _hundred_shares_and_a_stop(
    handle: SimulatorHandle, price: Decimal, stop_id: str
) -> tuple[AlpacaBroker, BrokerOrder]:
    """100 AAPL held at 100, quoted at `price`, with a GTC sell stop at 92 that has gone live."""
    sim = handle.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    sim.feed_quote("AAPL", price - Decimal("0.01"), price + Decimal("0.01"), price)
    broker = make_broker(handle)
    stop = broker.submit_order(
        OrderRequest(
            "AAPL",
            OrderSide.SELL,
            Decimal(100),
            OrderKind.STOP,
            stop_id,
            TimeInForce.GTC,
            stop_price=Decimal(92),
        )
    )
    wait_until(lambda: broker.get_order(stop.id).status == "new", 5.0, "stop never went live")
    return broker, stop


def _sell(qty: int, client_order_id: str) -> SubmitExit:
    return SubmitExit(
        "AAPL",
        OrderSide.SELL,
        Decimal(qty),
        "market",
        None,
        False,
        TimeInForce.DAY,
        client_order_id,
        "profit_target_2",
    )


def _run_one(broker: AlpacaBroker, client: redis.Redis, job: Job) -> JobResult:
    """One job through the real executor (its own order thread), waited for."""
    executor = OrderExecutor(broker, client, threads=1, lease_owner="test")
    try:
        assert executor.submit(job)
        assert executor.wait_for_completion(10.0)
        (result,) = executor.completed()
        return result
    finally:
        executor.shutdown()


def test_a_full_exit_waits_for_the_stop_cancel_to_land_before_selling(
    realistic_live_clock: SimulatorHandle, redis_client: redis.Redis
) -> None:
    broker, stop = _hundred_shares_and_a_stop(realistic_live_clock, Decimal(100), "t-stop")
    cancel = CancelOrder("AAPL", stop.id, "exit")
    result = _run_one(broker, redis_client, Job("AAPL", (cancel, _sell(100, "t-exit")), "test"))
    errors = [o.error for o in result.outcomes if o.error is not None]
    assert errors == []  # before: 403 insufficient qty, the stop still held the shares
    assert broker.get_order(stop.id).status == "canceled"
    exit_order = result.outcomes[1].order
    assert exit_order is not None and exit_order.client_order_id == "t-exit"


def test_a_partial_exit_waits_for_the_shrunk_stop_to_land_before_selling(
    realistic_live_clock: SimulatorHandle, redis_client: redis.Redis
) -> None:
    """PATCH answers the replacement `pending_new`; the old stop holds all 100 shares until it
    lands, so the sale of 50 must wait for it (before: 403 insufficient qty)."""
    broker, stop = _hundred_shares_and_a_stop(realistic_live_clock, Decimal(120), "t-stop2")
    shrink = replace_stop("AAPL", "k", stop.id, Decimal(50), Decimal(92), Decimal(92), "shrink")
    result = _run_one(broker, redis_client, Job("AAPL", (shrink, _sell(50, "t-exit2")), "test"))
    assert [o.error for o in result.outcomes if o.error is not None] == []
    assert broker.get_order(stop.id).status == "replaced"
    exit_order = result.outcomes[1].order
    assert exit_order is not None and exit_order.qty == 50
