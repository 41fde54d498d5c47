"""The simulator's market rules, events, clock, quote feed and snapshot."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from broker.alpaca_adapter import AlpacaBroker
from broker.errors import InsufficientQuantityError, OrderRejectedError
from position_manager import events
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager.session import Session
from position_manager.trade_updates import order_event
from simulator import EngineConfig, SimulatorHandle, start_simulator
from tests.support.redis_reads import read_events
from tests.support.simulator import REGULAR_OPEN_MORNING, adapter_simulator, make_broker
from tests.support.waits import wait_until

D = Decimal
PRE_MARKET = datetime(2025, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 New York
AFTER_HOURS = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)  # 17:00 New York


def order_events(client: redis.Redis) -> list[events.Event]:
    return read_events(client, events.ORDERS_STREAM)


def test_session_follows_the_new_york_clock_and_the_holiday_calendar(
    sim: SimulatorHandle,
) -> None:
    s = sim.simulator
    assert s.session() is Session.REGULAR
    s.set_clock(PRE_MARKET)
    assert s.session() is Session.PRE
    s.set_clock(AFTER_HOURS)
    assert s.session() is Session.POST
    s.set_clock(datetime(2025, 3, 4, 2, 0, tzinfo=UTC))  # 21:00 New York
    assert s.session() is Session.CLOSED
    s.set_clock(datetime(2025, 12, 25, 16, 0, tzinfo=UTC))  # Christmas
    assert s.session() is Session.CLOSED
    s.set_clock(datetime(2025, 11, 28, 18, 30, tzinfo=UTC))  # 13:30 after the early close
    assert s.session() is Session.POST


def test_fast_clock_crosses_the_open(sim: SimulatorHandle) -> None:
    sim.simulator.set_clock(datetime(2025, 3, 3, 14, 29, 59, 900000, tzinfo=UTC), speed=10.0)
    assert sim.simulator.session() is Session.PRE
    time.sleep(0.05)  # 0.5 s of simulated time
    assert sim.simulator.session() is Session.REGULAR


def test_stops_do_not_trigger_outside_the_regular_session(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    s = sim.simulator
    s.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        OrderRequest("AAPL", OrderSide.SELL, D(50), OrderKind.STOP, "stop", stop_price=D("180"))
    )
    s.set_clock(AFTER_HOURS)
    s.feed_quote("AAPL", "170.00", "170.10", "170.05")
    assert broker.get_order(stop.id).status == "new"
    s.set_clock(datetime(2025, 3, 4, 14, 30, tzinfo=UTC))  # next open: the stop fires
    assert broker.get_order(stop.id).status == "filled"
    assert broker.get_order(stop.id).filled_avg_price == D("170.00")


def test_extended_hours_limit_fills_after_hours_and_market_waits(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    s = sim.simulator
    s.set_clock(AFTER_HOURS)
    s.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    ext = broker.submit_order(
        OrderRequest(
            "AAPL",
            OrderSide.SELL,
            D(10),
            OrderKind.LIMIT,
            "ext-exit",
            time_in_force=TimeInForce.DAY,
            limit_price=D("189.00"),
            extended_hours=True,
        )
    )
    assert ext.status == "filled" and ext.filled_avg_price == D("189.99")
    market = broker.submit_order(
        OrderRequest(
            "AAPL",
            OrderSide.SELL,
            D(5),
            OrderKind.MARKET,
            "mkt-after-hours",
            time_in_force=TimeInForce.DAY,
        )
    )
    assert market.status == "new"  # queued for the open
    with_gtc = OrderRequest(
        "AAPL",
        OrderSide.SELL,
        D(1),
        OrderKind.LIMIT,
        "ext-gtc",
        limit_price=D("200"),
        extended_hours=True,
    )
    with pytest.raises(OrderRejectedError) as refused:
        broker.submit_order(with_gtc)
    assert refused.value.status == 422


def test_day_orders_expire_at_the_close_and_gtc_orders_do_not(
    sim: SimulatorHandle, broker: AlpacaBroker, redis_client: redis.Redis
) -> None:
    s = sim.simulator
    s.feed_quote("KO", "61.99", "62.01")
    day = broker.submit_order(
        OrderRequest(
            "KO",
            OrderSide.BUY,
            D(1),
            OrderKind.LIMIT,
            "day-1",
            time_in_force=TimeInForce.DAY,
            limit_price=D("50"),
        )
    )
    gtc = broker.submit_order(
        OrderRequest("KO", OrderSide.BUY, D(1), OrderKind.LIMIT, "gtc-1", limit_price=D("50"))
    )
    s.advance_clock(6 * 3600 + 1)  # 16:00:01 New York
    assert broker.get_order(day.id).status == "expired"
    assert broker.get_order(gtc.id).status == "new"
    assert events.ORDER_EXPIRED in [e.event for e in order_events(redis_client)]


def test_partial_fills_publish_partial_then_filled(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with start_simulator(
        lifecycle="instant",
        redis_url=redis_url,
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0,
        engine=EngineConfig(lifecycle="instant", partial_fill_qty=D(4)),
    ) as handle:
        broker = make_broker(handle)
        handle.simulator.feed_quote("KO", "61.99", "62.01")
        placed = broker.submit_order(
            OrderRequest("KO", OrderSide.BUY, D(10), OrderKind.MARKET, "partial-1")
        )
        assert placed.status == "partially_filled" and placed.filled_qty == D(4)
        handle.simulator.feed_quote("KO", "62.09", "62.11")
        handle.simulator.feed_quote("KO", "62.19", "62.21")
        done = broker.get_order(placed.id)
    assert done.status == "filled" and done.filled_qty == D(10)
    # (4 x 62.01 + 4 x 62.11 + 2 x 62.21) / 10
    assert done.filled_avg_price == D("62.09")
    names = [e.event for e in order_events(client)]
    assert names == [
        events.ORDER_NEW,
        events.ORDER_PARTIALLY_FILLED,
        events.ORDER_PARTIALLY_FILLED,
        events.ORDER_FILLED,
    ]
    last = order_events(client)[-1].data
    assert (last["position_qty"], last["price"], last["fill_qty"]) == ("10", "62.21", "2")
    assert (last["qty"], last["filled_qty"]) == ("10", "10")
    client.close()


def test_fill_cancel_replace_and_reject_are_published_as_order_events(
    sim: SimulatorHandle, broker: AlpacaBroker, redis_client: redis.Redis
) -> None:
    s = sim.simulator
    s.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        OrderRequest("AAPL", OrderSide.SELL, D(50), OrderKind.STOP, "s1", stop_price=D("170"))
    )
    moved = broker.replace_order(stop.id, stop_price=D("175"))
    with pytest.raises(InsufficientQuantityError):
        broker.submit_order(
            OrderRequest("AAPL", OrderSide.SELL, D(10), OrderKind.MARKET, "too-much")
        )
    broker.cancel_order(moved.id)
    broker.submit_order(OrderRequest("AAPL", OrderSide.SELL, D(10), OrderKind.MARKET, "m1"))
    published = order_events(redis_client)
    assert [e.event for e in published] == [
        events.ORDER_NEW,  # s1
        events.ORDER_NEW,  # the replacement
        events.ORDER_REPLACED,  # s1 replaced
        events.ORDER_FAILED,  # too-much: shares held by the stop
        events.ORDER_CANCELED,
        events.ORDER_NEW,  # m1
        events.ORDER_FILLED,
    ]
    replaced = published[2].data
    assert replaced["order_id"] == stop.id and replaced["replaced_by"] == moved.id
    failed = published[3].data
    assert failed["client_order_id"] == "too-much"
    assert "insufficient qty available" in failed["reason"]
    filled = published[-1].data
    assert filled == {
        "order_id": filled["order_id"],
        "client_order_id": "m1",
        "symbol": "AAPL",
        "side": "sell",
        "order_type": "market",
        "qty": "10",
        "filled_qty": "10",
        "filled_avg_price": "189.99",
        "price": "189.99",
        "fill_qty": "10",
        "position_qty": "40",
        "status": "filled",
        "timestamp": filled["timestamp"],
    }


def test_trade_update_mapping_is_the_live_bridge_shape() -> None:
    update: dict[str, Any] = {
        "event": "partial_fill",
        "timestamp": "2025-03-03T15:00:01Z",
        "price": "10.5",
        "qty": "3",
        "position_qty": "7",
        "order": {
            "id": "o-1",
            "client_order_id": "c-1",
            "symbol": "KO",
            "side": "buy",
            "order_type": "limit",
            "qty": "10",
            "filled_qty": "3",
            "filled_avg_price": "10.5",
            "status": "partially_filled",
        },
    }
    name, data = order_event(update) or ("", {})
    assert name == events.ORDER_PARTIALLY_FILLED
    assert data["position_qty"] == "7" and data["order_type"] == "limit"
    assert order_event({"event": "pending_new", "order": {}}) is None
    rejected = order_event({"event": "rejected", "order": {"id": "x"}, "reason": "no"})
    assert rejected is not None and rejected[1]["reason"] == "no"


def test_quotes_from_the_redis_stream_drive_fills(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    with start_simulator(
        lifecycle="instant",
        redis_url=redis_url,
        consume_quotes=True,
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0,
    ) as handle:
        broker = make_broker(handle)
        handle.simulator.feed_quote("KO", "61.99", "62.01")
        placed = broker.submit_order(
            OrderRequest("KO", OrderSide.BUY, D(2), OrderKind.LIMIT, "q1", limit_price=D("61"))
        )
        client.xadd(events.QUOTES_STREAM, {"junk": "not an event"})
        events.publish(
            client,
            events.QUOTE_UPDATED,
            {
                "symbol": "KO",
                "bid": "60.90",
                "ask": "60.95",
                "last": "60.93",
                "timestamp": REGULAR_OPEN_MORNING.isoformat(),
            },
        )
        wait_until(
            lambda: broker.get_order(placed.id).status == "filled", 5, "the order never filled"
        )
        assert broker.get_order(placed.id).filled_avg_price == D("60.95")
    client.close()


def test_snapshot_survives_a_restart(tmp_path: Path) -> None:
    snapshot = tmp_path / "sim.json"
    config: dict[str, Any] = {
        "snapshot_path": snapshot,
        "clock_start": REGULAR_OPEN_MORNING,
        "clock_speed": 0.0,
    }
    with start_simulator(lifecycle="instant", **config) as handle:
        broker = make_broker(handle)
        handle.simulator.seed_positions(marks={"AAPL": D("190")})
        stop = broker.submit_order(
            OrderRequest("AAPL", OrderSide.SELL, D(50), OrderKind.STOP, "keep", stop_price=D("170"))
        )
        cash = broker.get_account().cash
    assert json.loads(snapshot.read_text())["version"] == 1
    with start_simulator(lifecycle="instant", **config) as again:
        broker = make_broker(again)
        assert [o.id for o in broker.list_open_orders()] == [stop.id]
        assert broker.get_account().cash == cash
        assert {p.symbol for p in broker.list_positions()} >= {"AAPL", "XOM", "BNGO"}
        assert broker.get_order_by_client_id("keep") is not None
        with pytest.raises(InsufficientQuantityError):  # the reservation survives too
            broker.submit_order(
                OrderRequest("AAPL", OrderSide.SELL, D(1), OrderKind.MARKET, "after-restart")
            )


def test_snapshot_is_written_while_running(tmp_path: Path) -> None:
    snapshot = tmp_path / "sim.json"
    with start_simulator(
        lifecycle="instant", snapshot_path=snapshot, snapshot_interval=0.01
    ) as handle:
        handle.simulator.seed_positions()
        wait_until(snapshot.exists, 5, "no snapshot was written")
        assert "BNGO" in json.loads(snapshot.read_text())["positions"]


def test_control_endpoints_over_http_when_asked_for(redis_url: str) -> None:
    with adapter_simulator(redis_url, control_endpoints=True) as sim:
        _drive_the_control_endpoints(sim)


def _drive_the_control_endpoints(sim: SimulatorHandle) -> None:
    url = sim.url
    clock = requests.post(f"{url}/sim/clock", json={"time": AFTER_HOURS.isoformat()}, timeout=5)
    assert clock.json()["session"] == "POST"
    requests.post(
        f"{url}/sim/clock", json={"advance_seconds": 86400 - 3600 * 8}, timeout=5
    )  # next day 09:00
    assert requests.get(f"{url}/sim/clock", timeout=5).json()["session"] == "PRE"
    seeded = requests.post(f"{url}/sim/seed", json={}, timeout=5).json()
    assert seeded["positions"] == 6
    requests.post(
        f"{url}/sim/quotes", json=[{"symbol": "AAPL", "bid": 191, "ask": 191.02}], timeout=5
    )
    assert sim.simulator.engine.book.quotes["AAPL"].ask == D("191.02")
    faults = requests.post(f"{url}/sim/faults", json={"latency_ms": 5}, timeout=5).json()
    assert faults["latency_ms"] == 5
    assert requests.delete(f"{url}/sim/faults", timeout=5).json()["latency_ms"] == 0
    assert requests.get(f"{url}/sim/stats", timeout=5).json()["requests"] == 0
    bad = requests.get(f"{url}/v2/account", headers={"APCA-API-KEY-ID": "x"}, timeout=5)
    assert bad.status_code == 401
    assert sim.simulator.clock.now() - AFTER_HOURS == timedelta(hours=16)


def test_the_book_endpoint_shows_every_order_without_spending_the_budget(
    redis_url: str,
) -> None:
    """`/sim/book` is how an outside observer (the chaos run) samples the broker: every order of
    every status and the positions, in the snapshot's format, not counted as an API request."""

    with adapter_simulator(redis_url, control_endpoints=True) as sim:  # /sim/* is opt-in
        _sample_the_book(sim, make_broker(sim))


def _sample_the_book(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    from simulator.snapshot import book_from_json

    sim.simulator.seed_positions([("AAPL", D(10), D(100))], {"AAPL": D(100)})
    stop = OrderRequest("AAPL", OrderSide.SELL, D(10), OrderKind.STOP, "book-stop",
                        TimeInForce.GTC, stop_price=D(90))  # fmt: skip
    placed = broker.submit_order(stop)
    broker.cancel_order(placed.id)
    sim.simulator.reset_stats()
    book = book_from_json(requests.get(f"{sim.url}/sim/book", timeout=5).text)
    assert book.positions["AAPL"].qty == D(10)
    assert [(o.client_order_id, o.status) for o in book.orders.values()] == [
        ("book-stop", "canceled")
    ]
    assert requests.get(f"{sim.url}/sim/stats", timeout=5).json()["requests"] == 0
