"""The live bridges, with the real alpaca-py stream clients against a local Alpaca-speaking
websocket server; and the session publisher on the simulator's clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from position_manager import events, redis_schema
from position_manager.market_calendar import session_at as calendar_session
from position_manager.session import Session
from streaming.bridges.follow import QuoteFollower
from streaming.bridges.market_data import QuoteBridge
from streaming.bridges.trade_updates import TradeUpdateBridge
from streaming.session_publisher import SessionPublisher, broker_session
from tests.streaming.fake_alpaca_ws import FakeAlpacaStreams
from tests.support.redis_reads import read_events
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness


def _stop(bridge: QuoteBridge | TradeUpdateBridge, streams: FakeAlpacaStreams) -> None:
    bridge.stream.stop()
    streams.poke()
    bridge.stop()


@pytest.fixture
def streams() -> Iterator[FakeAlpacaStreams]:
    server = FakeAlpacaStreams().start()
    yield server
    server.stop()


def test_quote_bridge_publishes_alpaca_quotes(
    streams: FakeAlpacaStreams, redis_client: redis.Redis
) -> None:
    bridge = QuoteBridge(redis_client, "key", "secret", ["AAPL"], url_override=streams.data_url)
    bridge.start()
    try:
        assert streams.subscribed["data"].wait(10)
        at = datetime(2026, 11, 24, 15, 0, 1, 500000, tzinfo=UTC)
        streams.push_quote("AAPL", 100.0, 100.02, at)
        wait_until(lambda: bridge.published == 1, 10, "the bridge published nothing", interval=0.01)
    finally:
        _stop(bridge, streams)
    (ev,) = read_events(redis_client, events.QUOTES_STREAM)
    assert ev.event == events.QUOTE_UPDATED
    assert ev.data == {
        "symbol": "AAPL",
        "bid": "100.0",
        "ask": "100.02",
        "timestamp": at.isoformat(),
    }
    assert streams.auth_seen[0] == {"action": "auth", "key": "key", "secret": "secret"}


def test_trade_update_bridge_maps_fills_to_order_events(
    streams: FakeAlpacaStreams, redis_client: redis.Redis
) -> None:
    bridge = TradeUpdateBridge(redis_client, "key", "secret", url_override=streams.trading_url)
    bridge.start()
    try:
        assert streams.subscribed["trading"].wait(10)
        streams.push_trade_update(
            {
                "event": "fill",
                "timestamp": "2026-11-24T15:00:02Z",
                "price": "100.01",
                "qty": "100",
                "position_qty": "100",
                "order": {
                    "id": "o-1",
                    "client_order_id": "pm-entry-a1",
                    "symbol": "AAPL",
                    "side": "buy",
                    "order_type": "market",
                    "qty": "100",
                    "filled_qty": "100",
                    "filled_avg_price": "100.01",
                    "status": "filled",
                },
            }
        )
        streams.push_trade_update({"event": "pending_new", "order": {"id": "o-2"}})
        wait_until(lambda: bridge.published == 1, 10, "the bridge published nothing", interval=0.01)
    finally:
        _stop(bridge, streams)
    (ev,) = read_events(redis_client, events.ORDERS_STREAM)
    assert ev.event == events.ORDER_FILLED
    assert ev.data["order_id"] == "o-1" and ev.data["position_qty"] == "100"
    assert ev.data["price"] == "100.01" and ev.data["client_order_id"] == "pm-entry-a1"


def test_the_trade_update_bridge_asks_for_a_catch_up_on_every_connection(
    streams: FakeAlpacaStreams, redis_client: redis.Redis
) -> None:
    """Alpaca does not replay the trade updates sent while the socket was down: each
    (re)connection asks the worker to read what it missed from the broker."""
    bridge = TradeUpdateBridge(redis_client, "key", "secret", url_override=streams.trading_url)
    bridge.start()
    try:
        wait_until(lambda: bridge.connections == 1, 10, "never connected")
        streams.drop_trading()
        wait_until(lambda: bridge.connections == 2, 15, "never reconnected")
    finally:
        _stop(bridge, streams)
    asks = read_events(redis_client, events.COMMANDS_STREAM)
    assert [(e.event, e.data["connection"]) for e in asks] == [
        (events.COMMAND_RECONCILE, 1),
        (events.COMMAND_RECONCILE, 2),
    ]


def test_session_publisher_follows_the_broker_clock(harness: Harness) -> None:
    publisher = SessionPublisher(harness.client, harness.broker)
    assert publisher.publish_if_changed().value == "REGULAR"
    harness.sim.simulator.set_clock(datetime(2026, 11, 24, 22, 0, tzinfo=UTC))  # 17:00 NY
    assert publisher.publish_if_changed().value == "POST"
    publisher.publish_if_changed()  # unchanged: nothing published
    published = [e.data["session"] for e in read_events(harness.client, events.SESSION_STREAM)]
    assert published == ["REGULAR", "POST"]
    assert harness.client.get(redis_schema.SESSION_KEY) == b"POST"


def _a_session_the_host_calendar_would_not_give(harness: Harness) -> Session:
    """Set the broker's clock to a session other than the calendar's at the host's time, so a
    fall back to the calendar would show."""
    host = calendar_session(datetime.now(UTC))
    for at in (
        datetime(2026, 11, 24, 15, 0, tzinfo=UTC),  # Tuesday 10:00 New York: REGULAR
        datetime(2026, 11, 24, 22, 0, tzinfo=UTC),  # 17:00: POST
        datetime(2026, 11, 29, 15, 0, tzinfo=UTC),  # Sunday: CLOSED
    ):
        harness.sim.simulator.set_clock(at)
        session = broker_session(harness.broker)
        if session is not host:
            return session
    raise AssertionError("unreachable: three different sessions")


@pytest.mark.parametrize("failure", ["503", "429", "breaker open"])
def test_a_failed_clock_call_keeps_the_last_known_session(
    harness: Harness, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the outside harness: a clock call answered 5xx/429 (or refused by our own
    breaker) made the publisher fall back to the calendar at the host's time and publish
    CLOSED/PRE in the middle of the broker's session, which stops trailing and profit-taking."""
    known = _a_session_the_host_calendar_would_not_give(harness)
    publisher = SessionPublisher(harness.client, harness.broker)
    assert publisher.publish_if_changed() is known
    if failure == "breaker open":
        harness.broker.resilience.breaker.open()
    else:
        harness.sim.simulator.set_faults(
            fail_next=10, error_status=int(failure), path_contains="GET /v2/clock"
        )
    caplog.set_level(logging.WARNING, logger="streaming.session_publisher")
    assert publisher.publish_if_changed() is known
    assert SessionPublisher(harness.client, harness.broker).session_now() is known  # from Redis
    published = [e.data["session"] for e in read_events(harness.client, events.SESSION_STREAM)]
    assert published == [known.value]
    assert any("keeping the last known session" in r.getMessage() for r in caplog.records)


def test_session_publisher_uses_the_calendar_offline(redis_client: redis.Redis) -> None:
    publisher = SessionPublisher(redis_client, None)
    assert publisher.publish_if_changed() is publisher.current


def _follower(client: redis.Redis, streams: FakeAlpacaStreams, initial: list[str]) -> QuoteFollower:
    return QuoteFollower(
        client,
        lambda held: QuoteBridge(client, "key", "secret", held, url_override=streams.data_url),
        initial=initial,
        interval=3600,  # the test calls check() itself
    )


def _stop_follower(follower: QuoteFollower, streams: FakeAlpacaStreams) -> None:
    if follower.bridge is not None:
        follower.bridge.stream.stop()
        streams.poke()
    follower.stop()


def test_quote_follower_subscribes_a_position_opened_after_the_start(
    streams: FakeAlpacaStreams, redis_client: redis.Redis
) -> None:
    follower = _follower(redis_client, streams, ["AAPL"]).start()
    try:
        assert streams.subscribed["data"].wait(10)
        assert follower.check() == []
        redis_client.hset(redis_schema.POSITION_STATE_KEY.format(symbol="MSFT"), "symbol", "MSFT")
        assert follower.check() == ["MSFT"]
        wait_until(
            lambda: "MSFT" in streams.later_quote_subscriptions,
            10,
            "MSFT was never subscribed",
            interval=0.01,
        )
        streams.push_quote("MSFT", 400.0, 400.05, datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
        wait_until(
            lambda: follower.bridge is not None and follower.bridge.published == 1,
            10,
            "the follower's bridge published nothing",
            interval=0.01,
        )
    finally:
        _stop_follower(follower, streams)
    (ev,) = read_events(redis_client, events.QUOTES_STREAM)
    assert ev.data["symbol"] == "MSFT"


def test_quote_follower_starts_the_bridge_only_once_something_is_held(
    streams: FakeAlpacaStreams, redis_client: redis.Redis
) -> None:
    follower = _follower(redis_client, streams, []).start()
    try:
        assert follower.bridge is None and not streams.subscribed["data"].is_set()
        redis_client.hset(redis_schema.POSITION_STATE_KEY.format(symbol="NVDA"), "symbol", "NVDA")
        assert follower.check() == ["NVDA"]
        assert streams.subscribed["data"].wait(10)
    finally:
        _stop_follower(follower, streams)


def test_quote_bridge_warns_past_the_free_iex_symbol_limit(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    symbols = [f"S{i:02d}" for i in range(31)]
    QuoteBridge(redis_client, "key", "secret", symbols[:30])
    assert "free IEX" not in caplog.text
    bridge = QuoteBridge(redis_client, "key", "secret", symbols[:29])
    bridge.follow(symbols)  # not started: the subscription is only recorded
    assert "free IEX" in caplog.text
