"""Typed errors, idempotent submission, retries, the rate limiter and the circuit breaker."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import requests

from broker.alpaca_adapter import AlpacaBroker
from broker.errors import (
    BrokerUnavailableError,
    InsufficientBuyingPowerError,
    InsufficientQuantityError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
)
from broker.rate_limit import RateLimiter, limiter_for_key
from broker.resilience import CircuitOpenError, Resilience, ResiliencePolicy
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from simulator import SimulatorHandle, start_simulator
from tests.support.simulator import FAST_POLICY, REGULAR_OPEN_MORNING, make_broker

D = Decimal


def sell(symbol: str, qty: str, cid: str, **kw: Any) -> OrderRequest:
    fields: dict[str, Any] = {"kind": OrderKind.LIMIT, "limit_price": D("250"), **kw}
    return OrderRequest(
        symbol=symbol, side=OrderSide.SELL, qty=D(qty), client_order_id=cid, **fields
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- typed errors -----------------------------------------------------------------------------
def test_selling_shares_held_by_the_stop_is_an_insufficient_quantity_error(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    broker.submit_order(
        sell("AAPL", "50", "stop-1", kind=OrderKind.STOP, limit_price=None, stop_price=D("170"))
    )
    with pytest.raises(InsufficientQuantityError) as caught:
        broker.submit_order(sell("AAPL", "25", "take-profit-1"))
    error = caught.value
    assert error.status == 403 and error.code == 40310000
    assert (error.requested, error.available, error.held_for_orders) == (D(25), D(0), D(50))
    assert "insufficient qty available for order (requested: 25, available: 0)" in str(error)


def test_shrinking_the_stop_first_frees_shares_for_the_partial_exit(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        sell("AAPL", "50", "stop-1", kind=OrderKind.STOP, limit_price=None, stop_price=D("170"))
    )
    broker.replace_order(stop.id, qty=D(25))
    exit_order = broker.submit_order(sell("AAPL", "25", "take-profit-1"))
    assert exit_order.status == "new"
    position = broker.get_position("AAPL")
    assert position is not None and position.qty_available == D(0)


def test_buy_to_cover_beyond_the_unreserved_short_is_refused(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("XOM", D(-30), D("113"))], marks={"XOM": D("110")})
    broker.submit_order(
        OrderRequest("XOM", OrderSide.BUY, D(30), OrderKind.STOP, "short-stop", stop_price=D("120"))
    )
    with pytest.raises(InsufficientQuantityError) as caught:
        broker.submit_order(
            OrderRequest("XOM", OrderSide.BUY, D(10), OrderKind.MARKET, "cover-some")
        )
    assert caught.value.held_for_orders == D(30)


def test_insufficient_buying_power(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.feed_quote("MSFT", "409.99", "410.01")
    with pytest.raises(InsufficientBuyingPowerError) as caught:
        broker.submit_order(
            OrderRequest("MSFT", OrderSide.BUY, D(1000), OrderKind.MARKET, "too-big")
        )
    assert caught.value.status == 403 and caught.value.code == 40310000


def test_unknown_order_is_not_found(broker: AlpacaBroker) -> None:
    with pytest.raises(OrderNotFoundError):
        broker.get_order("6f1c8f5e-0000-4000-8000-000000000000")
    assert broker.get_order_by_client_id("never-sent") is None


def test_extended_hours_market_order_is_rejected_not_retried(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    before = sim.simulator.request_count
    with pytest.raises(OrderRejectedError) as caught:
        broker.submit_order(
            OrderRequest(
                "KO",
                OrderSide.BUY,
                D(1),
                OrderKind.MARKET,
                "ext-mkt",
                time_in_force=TimeInForce.DAY,
                extended_hours=True,
            )
        )
    assert caught.value.status == 422
    assert "extended hours" in str(caught.value)
    assert sim.simulator.request_count - before == 1  # 4xx: never retried


def test_cancel_of_a_filled_order_is_rejected(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    filled = broker.submit_order(OrderRequest("KO", OrderSide.BUY, D(1), OrderKind.MARKET, "k1"))
    with pytest.raises(OrderRejectedError):
        broker.cancel_order(filled.id)


# --- idempotent submission --------------------------------------------------------------------
def test_resending_a_client_order_id_returns_the_existing_order(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    request = OrderRequest(
        "KO", OrderSide.BUY, D(1), OrderKind.LIMIT, "pos-1:entry", limit_price=D("60")
    )
    first = broker.submit_order(request)
    again = broker.submit_order(request)
    assert again.id == first.id
    assert len(broker.list_open_orders()) == 1


def test_a_cancelled_orders_client_id_stays_taken(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    request = OrderRequest(
        "KO", OrderSide.BUY, D(1), OrderKind.LIMIT, "pos-1:entry", limit_price=D("60")
    )
    first = broker.submit_order(request)
    broker.cancel_order(first.id)
    again = broker.submit_order(request)
    assert again.id == first.id and again.status == "canceled"
    assert broker.list_open_orders() == []


def test_a_lost_answer_on_submit_does_not_make_a_second_order(sim: SimulatorHandle) -> None:
    broker = make_broker(
        sim,
        policy=ResiliencePolicy(retry_attempts=3, retry_initial_wait=0.001, request_timeout=0.3),
    )
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    # The order is created, but the answer is held past the client's timeout.
    sim.simulator.set_faults(drop_next=1, hang_seconds=1.0, path_contains="POST /v2/orders")
    placed = broker.submit_order(
        OrderRequest("KO", OrderSide.BUY, D(3), OrderKind.LIMIT, "pos-9:entry", limit_price=D("60"))
    )
    assert placed.client_order_id == "pos-9:entry"
    assert sim.simulator.stats["faults_dropped"] == 1
    assert sim.simulator.stats["POST /v2/orders"] == 1  # looked up, not re-sent
    assert [o.id for o in broker.list_open_orders()] == [placed.id]


def test_a_5xx_on_submit_before_processing_is_retried_once_safely(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    sim.simulator.set_faults(fail_next=1, path_contains="POST /v2/orders")
    placed = broker.submit_order(
        OrderRequest("KO", OrderSide.BUY, D(1), OrderKind.LIMIT, "pos-5:entry", limit_price=D("60"))
    )
    assert sim.simulator.stats["POST /v2/orders"] == 2
    assert [o.id for o in broker.list_open_orders()] == [placed.id]


# --- retries ----------------------------------------------------------------------------------
def test_5xx_is_retried_with_backoff_then_succeeds(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.set_faults(fail_next=2)
    assert broker.get_account().cash == D("100000")
    assert sim.simulator.stats["GET /v2/account"] == 3


def test_persistent_5xx_surfaces_as_unavailable_after_the_attempts(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.set_faults(error_rate=1.0, error_status=500)
    with pytest.raises(BrokerUnavailableError):
        broker.get_account()
    assert sim.simulator.stats["GET /v2/account"] == FAST_POLICY.retry_attempts


def test_non_blocking_calls_are_not_retried(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.set_faults(fail_next=1)
    with broker.non_blocking(), pytest.raises(BrokerUnavailableError):
        broker.get_clock()
    assert sim.simulator.stats["GET /v2/clock"] == 1


# --- rate limits ------------------------------------------------------------------------------
def test_limiter_is_shared_per_api_key() -> None:
    assert limiter_for_key("key-a") is limiter_for_key("key-a")
    assert limiter_for_key("key-a") is not limiter_for_key("key-b")


def test_non_blocking_limiter_refuses_instead_of_sleeping(sim: SimulatorHandle) -> None:
    broker = make_broker(sim, limiter=RateLimiter(3, 60))
    for _ in range(3):
        broker.get_clock()
    started = time.monotonic()
    with broker.non_blocking(), pytest.raises(RateLimitedError):
        broker.get_clock()
    assert time.monotonic() - started < 0.1
    assert sim.simulator.stats["GET /v2/clock"] == 3  # the refused call never left the process
    assert broker.rate_limiter.try_acquire() is False


def test_blocking_callers_wait_and_stay_under_the_brokers_limit() -> None:
    # The broker allows 12 per second; the adapter budgets 10 per second and waits for room.
    with start_simulator(
        lifecycle="instant",
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0,
        rate_limit=12,
        rate_window_seconds=1,
    ) as handle:
        broker = make_broker(handle, limiter=RateLimiter(10, 1), rate_limit_wait=5.0)
        started = time.monotonic()
        for _ in range(25):
            broker.get_clock()
        elapsed = time.monotonic() - started
        assert handle.simulator.stats["rate_limited"] == 0
        assert handle.simulator.stats["GET /v2/clock"] == 25
    assert 1.9 < elapsed < 4.0  # 25 requests at 10/s need two full windows of waiting


def test_a_429_from_the_broker_is_typed_and_the_budget_refuses_until_its_reset() -> None:
    # Another client on the key spent the budget: the broker says 429 though ours has room.
    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0, rate_limit=2
    ) as handle:
        headers = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
        for _ in range(2):
            assert requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5).ok
        broker = make_broker(handle, rate_limit_wait=0.2)
        with broker.non_blocking(), pytest.raises(RateLimitedError) as caught:
            broker.get_clock()
        assert caught.value.status == 429
        # Until the 429's Reset (about a minute away) nothing more is sent: refused here.
        with broker.non_blocking(), pytest.raises(RateLimitedError) as refused:
            broker.get_clock()
        assert refused.value.status is None
        started = time.monotonic()
        with pytest.raises(RateLimitedError, match="until its reset"):
            broker.get_clock()  # a blocking caller waits its 0.2 s, then gives up
        assert 0.15 < time.monotonic() - started < 2.0
        assert handle.simulator.stats["rate_limited"] == 1
        assert handle.simulator.stats["GET /v2/clock"] == 3


def test_429_response_carries_rate_limit_headers(sim: SimulatorHandle) -> None:
    with start_simulator(lifecycle="instant", rate_limit=1, rate_window_seconds=60) as handle:
        headers = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
        ok = requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5)
        limited = requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5)
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"] == "1"
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > time.time()
    assert limited.json()["code"] == 42910000


# --- circuit breaker --------------------------------------------------------------------------
def test_breaker_opens_after_five_failed_calls_and_closes_after_recovery(
    sim: SimulatorHandle,
) -> None:
    clock = FakeClock()
    changes: list[tuple[str | None, str]] = []
    policy = ResiliencePolicy(retry_attempts=1, breaker_fail_max=5, breaker_reset_seconds=30)
    resilience = Resilience(
        policy, clock=clock, on_state_change=lambda o, n: changes.append((o, n))
    )
    broker = make_broker(sim, resilience=resilience)
    sim.simulator.set_faults(error_rate=1.0)
    for _ in range(4):
        with pytest.raises(BrokerUnavailableError):
            broker.get_clock()
    assert broker.breaker_state == "closed"
    with pytest.raises(CircuitOpenError):
        broker.get_clock()  # the fifth failure opens the circuit
    assert broker.breaker_state == "open"
    assert changes == [("closed", "open")]
    sent = sim.simulator.stats["GET /v2/clock"]
    with pytest.raises(CircuitOpenError):
        broker.get_clock()
    assert sim.simulator.stats["GET /v2/clock"] == sent  # failed fast, nothing sent
    assert not broker.is_connected()

    sim.simulator.clear_faults()
    clock.now += 29
    with pytest.raises(CircuitOpenError):
        broker.get_clock()  # still inside the 30 s recovery window
    clock.now += 2
    assert broker.get_clock().is_open  # half-open trial succeeds ...
    assert broker.breaker_state == "closed"  # ... and closes the circuit
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


def test_business_errors_do_not_trip_the_breaker(sim: SimulatorHandle) -> None:
    resilience = Resilience(ResiliencePolicy(retry_attempts=1), clock=FakeClock())
    broker = make_broker(sim, resilience=resilience)
    for _ in range(8):
        with pytest.raises(OrderNotFoundError):
            broker.get_order("6f1c8f5e-0000-4000-8000-000000000000")
    assert broker.breaker_state == "closed"
