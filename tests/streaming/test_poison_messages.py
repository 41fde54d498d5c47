"""Poison messages (issue 11): one malformed message on any consumed stream is dead-lettered at
once, with its reason, and acked in the same commit; it never crashes the worker, and its
neighbours in the batch are handled as if it had not been there. Each finding of the outside
harness is a test here: they all failed (a crash, or an order placed) before the fix."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from book.engine import Engine
from book.state import Changes
from position_manager import events
from position_manager.events import encode_event, publish
from position_manager.redis_schema import redis_fields
from position_manager.session import Session
from tests.support.worker_harness import Harness, risk_params

CONSUMED = (
    events.QUOTES_STREAM,
    events.ORDERS_STREAM,
    events.RISK_STREAM,
    events.SESSION_STREAM,
    events.COMMANDS_STREAM,
)
EVENT_ON = {
    events.QUOTES_STREAM: events.QUOTE_UPDATED,
    events.ORDERS_STREAM: events.ORDER_NEW,
    events.RISK_STREAM: events.TRADE_APPROVED,
    events.SESSION_STREAM: events.SESSION_CHANGED,
    events.COMMANDS_STREAM: events.COMMAND_RECONCILE,
}


@pytest.fixture
def running(harness: Harness) -> Harness:
    """AAPL held: 100 bought at 100, protected by a stop."""
    risk_params(harness.client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    assert harness.position_qty("AAPL") == 100
    return harness


def _entry(stream: str, data: bytes, extra: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
    """A well-formed envelope for `stream` whose data field is `data` (raw bytes)."""
    envelope = {k.encode(): v.encode() for k, v in encode_event(EVENT_ON[stream], {}).items()}
    envelope[b"data"] = data
    envelope.update(extra or {})
    return envelope


def _aapl() -> bytes:
    """Valid-looking data naming AAPL (so a quote reaches the full decoder: AAPL is held)."""
    return json.dumps(
        {"symbol": "AAPL", "bid": "100", "ask": "100.02", "timestamp": _now()}
    ).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _push(harness: Harness, stream: str, fields: dict[bytes, bytes]) -> None:
    harness.client.xadd(stream, cast(dict[Any, Any], fields))


def _assert_dead_lettered_at_once(harness: Harness, stream: str, reason: str) -> dict[str, Any]:
    """Exactly one dead letter, from `stream`, with `reason`, on its first delivery (not the
    delivery limit); nothing left pending on any stream; the letter is valid JSON text."""
    letters = harness.dead_letters()
    assert [(d["source_stream"], reason in d["reason"]) for d in letters] == [(stream, True)], [
        d["reason"] for d in letters
    ]
    for name in CONSUMED:
        assert harness.client.xpending(name, "pm-worker")["pending"] == 0, name
    fields: dict[str, Any] = json.loads(letters[0]["fields"])
    return fields


def _still_handles_quotes(harness: Harness) -> None:
    harness.quote("AAPL", "101")
    assert harness.state("AAPL")["last_price"] == "101"


@pytest.mark.parametrize("stream", CONSUMED)
def test_a_field_value_that_is_not_utf8_is_dead_lettered_at_once(
    running: Harness, stream: str
) -> None:
    _push(running, stream, _entry(stream, _aapl()[:-1] + b',"note":"\xff\xfe"}'))
    running.settle()
    fields = _assert_dead_lettered_at_once(running, stream, "not UTF-8")
    assert "\\xff\\xfe" in fields["data"]  # stored escaped: the dead letter itself is text
    _still_handles_quotes(running)


@pytest.mark.parametrize("stream", CONSUMED)
def test_a_binary_field_name_is_dead_lettered_at_once(running: Harness, stream: str) -> None:
    _push(running, stream, _entry(stream, _aapl(), {b"\xff": b"x"}))
    running.settle()
    fields = _assert_dead_lettered_at_once(running, stream, "field name is not UTF-8")
    assert "\\xff" in fields
    _still_handles_quotes(running)


@pytest.mark.parametrize("stream", CONSUMED)
def test_deeply_nested_json_is_dead_lettered_at_once(running: Harness, stream: str) -> None:
    deep = b'{"symbol":"AAPL","bid":"100","ask":"100.02","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    _push(running, stream, _entry(stream, deep))
    running.settle()
    _assert_dead_lettered_at_once(running, stream, "nests deeper than 16")
    _still_handles_quotes(running)


@pytest.mark.parametrize("stream", CONSUMED)
def test_a_5000_digit_integer_is_dead_lettered_at_once(running: Harness, stream: str) -> None:
    huge = b'{"symbol":"AAPL","bid":"100","ask":"100.02","qty":' + b"9" * 5000 + b"}"
    _push(running, stream, _entry(stream, huge))
    running.settle()
    _assert_dead_lettered_at_once(running, stream, "number of 5000 digits")
    _still_handles_quotes(running)


def test_session_changes_in_the_batch_of_a_poison_message_are_all_applied(
    running: Harness,
) -> None:
    """130 session changes around one poison message, read in one batch: the poison is
    dead-lettered, every session change is applied and acked (none reaches the delivery
    limit), and an order event in the same batch still re-protects the position."""
    worker = running.worker
    assert worker is not None
    (stop,) = running.stops("AAPL")
    generation = int(running.state("AAPL")["stop_generation"])
    sessions = [Session.POST, Session.REGULAR] * 65
    applied: list[Session] = []
    real_set_session = worker.housekeeping.set_session

    def recording_set_session(session: Session, changes: Any) -> None:
        applied.append(session)
        real_set_session(session, changes)

    worker.housekeeping.set_session = recording_set_session  # type: ignore[method-assign]
    for i, session in enumerate(sessions):
        if i == 60:
            deep = b'{"session":"POST","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
            _push(running, events.SESSION_STREAM, _entry(events.SESSION_STREAM, deep))
        publish(running.client, events.SESSION_CHANGED, {"session": session.value})
    running.broker.cancel_order(stop.id)  # a hand cancel: order.canceled in the same batch
    running.sim.simulator.engine.process_pending()
    assert worker.process_batch(block_ms=0) > 130  # one batch
    running.settle()

    assert applied == sessions
    assert worker.engine.session is Session.REGULAR
    _assert_dead_lettered_at_once(running, events.SESSION_STREAM, "nests deeper")
    assert int(running.state("AAPL")["stop_generation"]) == generation + 1
    assert [s.qty for s in running.stops("AAPL")] == [100]


def test_a_handler_that_fails_is_retried_alone_and_its_batch_is_committed(
    running: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message whose handler raises (a bug, not a bad message) has its half-done changes
    rolled back and stays pending; its neighbours are committed. Retried until the delivery
    limit, it alone is dead-lettered: 'delivery limit exceeded'."""
    worker = running.worker
    assert worker is not None
    last_price = running.state("AAPL")["last_price"]
    real = Engine.earnings_job

    def half_done_then_crash(
        self: Engine, symbol: str, today: date, report: date | None, changes: Changes
    ) -> Any:
        if report != date(2026, 11, 27):  # the housekeeping's own check is not the bug
            return real(self, symbol, today, report, changes)
        held = self.held[symbol]
        held.position = held.position.evolve(last_price=Decimal("1"))
        changes.emit(events.POSITION_ERROR, {"symbol": symbol, "message": "half done"})
        changes.put(held)
        raise KeyError("a bug in the handler")

    monkeypatch.setattr(Engine, "earnings_job", half_done_then_crash)
    publish(running.client, events.SESSION_CHANGED, {"session": "POST"})
    publish(
        running.client,
        events.COMMAND_REDUCE_FOR_EARNINGS,
        {"symbol": "AAPL", "report_date": "2026-11-27"},
    )
    publish(running.client, events.SESSION_CHANGED, {"session": "REGULAR"})
    running.settle()

    assert worker.engine.session is Session.REGULAR  # both neighbours applied
    assert running.client.xpending(events.SESSION_STREAM, "pm-worker")["pending"] == 0
    assert running.client.xpending(events.COMMANDS_STREAM, "pm-worker")["pending"] == 1
    assert running.events(events.POSITION_ERROR) == []  # the half-done event was rolled back
    assert running.state("AAPL")["last_price"] == last_price  # and the half-done state
    assert worker.engine.held["AAPL"].position.last_price != Decimal("1")  # in memory too
    assert running.dead_letters() == []

    worker.consumer.config = replace(worker.consumer.config, claim_idle_ms=0)
    for _ in range(worker.consumer.config.max_deliveries):
        worker.housekeeping.tick(force=True)  # reclaims the idle entry and retries it
    letters = running.dead_letters()
    assert [(d["source_stream"], d["reason"]) for d in letters] == [
        (events.COMMANDS_STREAM, "delivery limit exceeded")
    ]
    assert running.client.xpending(events.COMMANDS_STREAM, "pm-worker")["pending"] == 0


def test_a_quote_with_last_1e999_is_refused_and_sells_nothing(running: Harness) -> None:
    """Decimal('1e999') is finite: the quote read as +50 % once and sold AAPL in full."""
    publish(
        running.client,
        events.QUOTE_UPDATED,
        {"symbol": "AAPL", "bid": "100", "ask": "100.02", "last": "1e999", "timestamp": _now()},
    )
    running.settle()
    assert running.position_qty("AAPL") == 100
    assert [o.kind.is_stop for o in running.open_orders("AAPL")] == [True]
    assert running.events(events.POSITION_PROFIT_TAKING) == []
    _assert_dead_lettered_at_once(running, events.QUOTES_STREAM, "last is not a plain decimal")


def test_a_trade_approval_with_arabic_indic_digits_buys_nothing(running: Harness) -> None:
    """Decimal('١٢') == 12: an approval with qty '١٢' once bought 12 shares."""
    running.sim.simulator.feed_quote("MSFT", 400, 400, 400)
    publish(
        running.client,
        events.TRADE_APPROVED,
        {"symbol": "MSFT", "side": "buy", "qty": "١٢", "approval_id": "ap-arabic"},
    )
    running.settle()
    assert running.position_qty("MSFT") == 0
    assert running.open_orders("MSFT") == []
    _assert_dead_lettered_at_once(running, events.RISK_STREAM, "qty is not a plain decimal")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"qty": "1e2"}, "qty is not a plain decimal"),
        ({"qty": "12 "}, "qty is not a plain decimal"),
        ({"qty": "1_000"}, "qty is not a plain decimal"),
        ({"qty": "Infinity"}, "qty is not finite"),
        ({"qty": "0"}, "qty must be positive"),
        ({"qty": "2000000000"}, "above the limit"),
        ({"qty": "10", "limit_price": "99999999"}, "above the ceiling"),
        ({"qty": 1e-05}, "qty is not a plain decimal"),
    ],
)
def test_a_trade_approval_with_a_number_that_is_not_plain_is_refused(
    running: Harness, data: dict[str, Any], reason: str
) -> None:
    approval = {"symbol": "MSFT", "side": "buy", "approval_id": "ap-bad", **data}
    publish(running.client, events.TRADE_APPROVED, approval)
    running.settle()
    _assert_dead_lettered_at_once(running, events.RISK_STREAM, reason)
    assert running.open_orders("MSFT") == []


def test_a_quote_with_two_symbol_keys_is_refused(running: Harness) -> None:
    """The hot path reads the first "symbol" from the raw bytes, JSON keeps the last: a quote
    for MSFT dressed as AAPL must not move AAPL's book."""
    raw = (
        '{"symbol":"AAPL","symbol":"MSFT","bid":"150","ask":"150.02","last":"150",'
        f'"timestamp":"{_now()}"}}'
    )
    fields = encode_event(events.QUOTE_UPDATED, {})
    fields["data"] = raw
    running.client.xadd(events.QUOTES_STREAM, redis_fields(fields))
    running.settle()
    _assert_dead_lettered_at_once(running, events.QUOTES_STREAM, "ambiguous symbol")
    assert running.state("AAPL")["last_price"] != "150"
    assert running.position_qty("AAPL") == 100


@pytest.mark.parametrize("stream", CONSUMED)
def test_an_event_that_does_not_belong_on_the_stream_is_dead_lettered(
    running: Harness, stream: str
) -> None:
    fields = encode_event("market.weather.changed", {"symbol": "AAPL"})
    running.client.xadd(stream, redis_fields(fields))
    running.settle()
    reason = "unknown command" if stream == events.COMMANDS_STREAM else "unexpected event"
    _assert_dead_lettered_at_once(running, stream, reason)
