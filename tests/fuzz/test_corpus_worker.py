"""The whole hostile corpus through a real worker (real Redis streams, the simulator over HTTP,
alpaca-py), on every stream it consumes, each hostile message followed by a valid one on the
same stream, all read in one batch per stream. The worker never crashes; every hostile message
is dead-lettered with its reason and acked; every valid neighbour is handled (its quote moved
the stop, its session was applied, its approval became an order, its order event and reconcile
command were acked); no order came from garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from position_manager import events
from position_manager.events import encode_event
from position_manager.redis_schema import redis_fields
from position_manager.session import Session
from rules.order_ids import entry_order_id
from tests.fuzz.corpus import VALID_EVENT, Case, load_corpus, valid_data
from tests.support.worker_harness import Harness, risk_params

CORPUS = load_corpus()


def test_the_corpus_covers_every_kind_the_harness_found() -> None:
    names = {case.name for case in CORPUS}
    found = {"non_utf8_value", "binary_field_name", "deep_array", "deep_object",
             "int_5000_digits", "quote_last_1e999", "approval_qty_arabic", "order_price_inf",
             "payload_1mb", "symbol_10k", "quote_crossed", "unknown_event_name",
             "lone_surrogate", "json_nan", "quote_bid_negative", "quote_bid_zero",
             "quote_bid_list", "symbol_unicode"}  # fmt: skip
    assert found <= names
    assert {case.stream for case in CORPUS} == set(events.CONSUMED_EVENTS)


class Neighbours:
    """The valid message that follows each hostile one, per stream, and what it should do."""

    def __init__(self, session_changes: int) -> None:
        self.quote_prices: list[Decimal] = []
        self.sessions: list[Session] = []
        self.session_changes = session_changes
        self.approvals: list[str] = []
        self.n = 0

    def fields(self, stream: str) -> dict[str, str]:
        self.n += 1
        data = valid_data(stream)
        name = {events.COMMANDS_STREAM: events.COMMAND_RECONCILE}.get(stream)
        if stream == events.QUOTES_STREAM:
            price = Decimal("100.10") + Decimal("0.10") * len(self.quote_prices)
            self.quote_prices.append(price)
            data.update(bid=str(price - Decimal("0.01")), ask=str(price + Decimal("0.01")),
                        last=str(price), timestamp=datetime.now(UTC).isoformat())  # fmt: skip
        elif stream == events.SESSION_STREAM:
            # POST and REGULAR in turn, ending in REGULAR (where quotes trail the stop)
            left = self.session_changes - 1 - len(self.sessions)
            session = Session.REGULAR if left % 2 == 0 else Session.POST
            self.sessions.append(session)
            data["session"] = session.value
        elif stream == events.RISK_STREAM:
            data["approval_id"] = f"fuzz-ok-{self.n}"
            self.approvals.append(data["approval_id"])
        elif stream == events.ORDERS_STREAM:
            data["order_id"] = f"0c9c6b9e-0000-4000-8000-{self.n:012d}"
        return encode_event(name or VALID_EVENT[stream], data)


@pytest.fixture
def running(harness: Harness) -> Harness:
    risk_params(harness.client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    harness.sim.simulator.feed_quote("MSFT", Decimal(400), Decimal(400), Decimal(400))
    return harness


def test_the_corpus_through_a_real_worker_on_every_stream(running: Harness) -> None:
    worker = running.worker
    assert worker is not None
    (stop,) = running.stops("AAPL")
    first_stop_price = stop.stop_price
    applied: list[Session] = []
    real_set_session = worker.housekeeping.set_session

    def recording_set_session(session: Session, changes: Any) -> None:
        applied.append(session)
        real_set_session(session, changes)

    worker.housekeeping.set_session = recording_set_session  # type: ignore[method-assign]
    orders_before = set(running.sim.simulator.engine.state.book.orders)

    hostile: dict[tuple[str, str], Case] = {}  # (stream, entry id): ids are per stream
    neighbours = Neighbours(sum(case.stream == events.SESSION_STREAM for case in CORPUS))
    for case in CORPUS:
        entry_id = running.client.xadd(case.stream, cast(dict[Any, Any], case.fields))
        hostile[(case.stream, _text(entry_id))] = case
        running.client.xadd(case.stream, redis_fields(neighbours.fields(case.stream)))
    running.settle(timeout=60)  # would raise if the loop had crashed

    letters = {(d["source_stream"], d["source_id"]): d for d in running.dead_letters()}
    wrong = {
        f"{case.name} on {case.stream}": letters.get(key, {}).get("reason")
        for key, case in hostile.items()
        if case.reason not in letters.get(key, {}).get("reason", "")
    }
    assert wrong == {}, "hostile messages not dead-lettered with the expected reason"
    assert set(letters) == set(hostile), "a valid neighbour was dead-lettered"
    for letter in letters.values():
        assert json.loads(letter["fields"]) is not None  # stored escaped, readable
        assert len(letter["fields"]) < 20 * 4096
    for stream in events.CONSUMED_EVENTS:
        assert running.client.xpending(stream, "pm-worker")["pending"] == 0, stream

    # Every valid neighbour was handled.
    assert applied == neighbours.sessions
    assert worker.engine.session is neighbours.sessions[-1]
    state = running.state("AAPL")
    assert Decimal(state["best_price"]) == max(neighbours.quote_prices)
    running.broker_step()  # the trailing replace lands
    (trailed,) = running.stops("AAPL")
    assert trailed.stop_price is not None and first_stop_price is not None
    assert trailed.stop_price > first_stop_price  # the valid quotes moved the stop

    # No order came from garbage: the new entry orders are the valid approvals' (MSFT, one
    # share each); every other new order is a protective stop (AAPL's trail, MSFT's new stop);
    # AAPL is still held in full.
    book = running.sim.simulator.engine.state.book
    new = [book.orders[i] for i in book.orders if i not in orders_before]
    entries = [o for o in new if o.client_order_id.startswith("pm-entry-")]
    assert sorted(o.client_order_id for o in entries) == sorted(
        entry_order_id(a) for a in neighbours.approvals
    )
    assert {(o.symbol, o.side, o.qty) for o in entries} == {("MSFT", "buy", 1)}
    assert {o.type for o in new if o not in entries} <= {"stop"}
    assert running.position_qty("AAPL") == 100
    assert running.position_qty("MSFT") <= len(neighbours.approvals)

    # And the worker goes on: a hand cancel of the stop is still answered with a new one.
    running.broker.cancel_order(trailed.id)
    running.broker_step()
    assert [s.qty for s in running.stops("AAPL")] == [100]


def _text(entry_id: object) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
