"""Bad messages go to the dead-letter stream with a reason and are acked; the worker goes on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from position_manager import events
from position_manager.events import encode_event, publish
from position_manager.redis_schema import redis_fields
from tests.support.worker_harness import Harness, risk_params


@pytest.fixture
def running(harness: Harness) -> Harness:
    risk_params(harness.client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    return harness


def _raw_quote(harness: Harness, data: object) -> None:
    fields = encode_event(events.QUOTE_UPDATED, {})
    fields["data"] = data if isinstance(data, str) else json.dumps(data)
    harness.client.xadd(events.QUOTES_STREAM, redis_fields(fields))


GOOD = {"symbol": "AAPL", "bid": "100", "ask": "100.02", "timestamp": "2026-11-24T15:00:00+00:00"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({k: v for k, v in GOOD.items() if k != "bid"}, "missing field: bid"),
        ({**GOOD, "bid": "NaN"}, "not finite"),
        ({**GOOD, "ask": "-1"}, "must be positive"),
        ({**GOOD, "bid": "101", "ask": "100"}, "crossed"),
        ({**GOOD, "bid": [1]}, "must be a number"),
        ({**GOOD, "timestamp": "yesterday"}, "bad timestamp"),
        ({**GOOD, "symbol": "not a symbol!"}, "unknown symbol"),
        ({"bid": "1", "ask": "2"}, "unknown symbol"),
        ("[1, 2]", "data must be a JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_bad_quote_is_dead_lettered_and_acked(running: Harness, data: object, reason: str) -> None:
    _raw_quote(running, data)
    running.quote("AAPL", "101")  # a good one after it is still handled
    letters = running.dead_letters()
    assert len(letters) == 1
    assert reason in letters[0]["reason"]
    assert letters[0]["source_stream"] == events.QUOTES_STREAM
    assert "data" in json.loads(letters[0]["fields"])
    assert running.client.xpending(events.QUOTES_STREAM, "pm-worker")["pending"] == 0
    assert running.state("AAPL")["last_price"] == "101"


def test_missing_envelope_field_is_dead_lettered(running: Harness) -> None:
    running.client.xadd(events.ORDERS_STREAM, {"event": "order.filled", "id": "x"})
    running.settle()
    assert "missing envelope field" in running.dead_letters()[0]["reason"]


def test_bad_order_event_and_unknown_command(running: Harness) -> None:
    publish(running.client, events.ORDER_FILLED, {"symbol": "AAPL", "side": "buy"})
    publish(running.client, "command.explode", {"symbol": "AAPL"})
    running.settle()
    reasons = sorted(d["reason"] for d in running.dead_letters())
    assert reasons == ["missing field: order_id", "unknown command: command.explode"]


def test_unheld_symbols_are_dropped_quietly(running: Harness) -> None:
    for symbol in ("MSFT", "BRK.B", "GOOG"):
        publish(running.client, events.QUOTE_UPDATED, {**GOOD, "symbol": symbol})
    running.settle()
    assert running.dead_letters() == []
    assert running.client.xpending(events.QUOTES_STREAM, "pm-worker")["pending"] == 0


def test_poison_message_past_the_delivery_limit_is_dead_lettered(running: Harness) -> None:
    worker = running.worker
    assert worker is not None
    publish(running.client, events.ORDER_FILLED, {"symbol": "AAPL"})
    # A consumer that crashes on it every time: delivered, never acked, over and over.
    running.client.xreadgroup("pm-worker", "crasher", {events.ORDERS_STREAM: ">"})
    for _ in range(worker.consumer.config.max_deliveries):
        running.client.xreadgroup("pm-worker", "crasher", {events.ORDERS_STREAM: "0"})
    worker.consumer.config = replace(worker.consumer.config, claim_idle_ms=0)
    worker.housekeeping.tick(force=True)  # reclaims idle entries, counts deliveries
    letters = running.dead_letters()
    assert [d["reason"] for d in letters] == ["delivery limit exceeded"]
    assert running.client.xpending(events.ORDERS_STREAM, "pm-worker")["pending"] == 0
