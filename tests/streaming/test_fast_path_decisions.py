"""The worker's quote path, with every shortcut it takes for speed, decides exactly what the plain
per-quote evaluation decides.

A recorded quote stream (seeded: held longs and shorts that trail their stops, reach both profit
levels and breach their stops, among unheld noise) goes through

- the fast path: XADD into a real Redis, `Consumer.read` (its own reply parsing), the
  `Dispatcher`'s quote loop (the symbol read from the raw bytes, unheld quotes dropped before
  parsing, one savepoint journal per batch), the engine and `Position.evolve`, `StateStore.commit`;
- the reference: each recorded entry decoded in full (`decode_event`, `parse_quote`), handed to an
  engine of its own one quote at a time, with `Position.evolve` as `dataclasses.replace`.

Both use the same deterministic stand-in executor (a job's actions are accepted by the broker and
applied at the start of the next batch, as the worker applies finished jobs) and the same clock,
and the test compares, batch by batch, the order jobs, the events and the state written.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
import redis

from book.engine import Engine
from book.executor import Job, JobResult, Outcome
from book.messages import parse_quote
from book.outcomes import apply_outcome
from book.state import Changes, Held, StateStore, to_hash
from position_manager import events
from position_manager.broker_types import BrokerOrder, OrderKind, OrderSide, TimeInForce
from position_manager.events import decode_event, encode_event
from position_manager.session import Session
from rules.decisions import PlaceStop, ReplaceStop, SubmitExit
from rules.model import Position, Side
from rules.order_ids import make_position_key
from rules.params import DEFAULT_PARAMS
from streaming.consumer import Consumer, ConsumerConfig
from streaming.dispatch import Dispatcher
from streaming.housekeeping import Housekeeping

COUNT = 40  # quotes per batch: many batches, so jobs straddle them
TS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).isoformat()
# symbol -> (quantity, drift per held quote as a fraction): up-trends trail and take profit,
# down-trends breach the stop, a flat one mostly marks.
BOOK: dict[str, tuple[int, float]] = {
    "AAPL": (100, 0.004),
    "MSFT": (60, 0.0025),
    "NVDA": (100, -0.003),
    "AMD": (-100, -0.004),
    "TSLA": (-50, 0.003),
    "KO": (200, 0.0),
}


def recorded_stream(seed: int = 11, quotes: int = 3000) -> list[dict[str, str]]:
    """The entries' fields as the bridge XADDs them; 40 % for held symbols."""
    rng = random.Random(seed)
    price = dict.fromkeys(BOOK, 100.0)
    out = []
    for _ in range(quotes):
        if rng.random() < 0.4:
            symbol = rng.choice(sorted(BOOK))
            drift = BOOK[symbol][1]
            # steps well under QUOTE_CONFIRM_MOVE (10 %): no broker confirmation needed
            price[symbol] = max(1.0, price[symbol] * (1 + drift + rng.uniform(-0.006, 0.006)))
            bid = round(price[symbol], 2)
        else:
            symbol, bid = f"N{rng.randrange(500):03d}", round(rng.uniform(10, 90), 2)
        spread = rng.choice((0.0, 0.01, 0.02))
        data = {"symbol": symbol, "bid": f"{bid:.2f}", "ask": f"{bid + spread:.2f}"}
        if rng.random() < 0.3:
            data["last"] = f"{bid:.2f}"
        data["timestamp"] = TS
        out.append({k: str(v) for k, v in encode_event(events.QUOTE_UPDATED, data).items()})
    return out


def opening_book() -> dict[str, Held]:
    book = {}
    for symbol, (qty, _) in BOOK.items():
        long = qty > 0
        quantity = Decimal(qty)
        book[symbol] = Held(
            Position(
                symbol=symbol,
                quantity=quantity,
                entry_price=Decimal(100),
                original_quantity=abs(quantity),
                position_key=make_position_key(symbol, Side.LONG if long else Side.SHORT, "t0"),
                stop_price=Decimal(95) if long else Decimal(105),
                target_price=Decimal(124) if long else Decimal(76),
                stop_order_id=f"s-{symbol}",
                stop_quantity=abs(quantity),
                session=Session.REGULAR,
            )
        )
    return book


def broker_order(action: Any) -> BrokerOrder | None:
    """What a broker that accepts everything answers (a new order id per accepted request)."""
    if isinstance(action, PlaceStop | ReplaceStop):
        side = getattr(action, "side", OrderSide.SELL)
        return BrokerOrder(
            id=f"o-{action.client_order_id}", client_order_id=action.client_order_id,
            symbol=action.symbol, side=side, kind=OrderKind.STOP, qty=action.qty,
            filled_qty=Decimal(0), status="new", time_in_force=TimeInForce.GTC,
            stop_price=action.stop_price,
        )  # fmt: skip
    if isinstance(action, SubmitExit):
        return BrokerOrder(
            id=f"o-{action.client_order_id}", client_order_id=action.client_order_id,
            symbol=action.symbol, side=action.side, kind=OrderKind.MARKET, qty=action.qty,
            filled_qty=Decimal(0), status="accepted", time_in_force=TimeInForce.DAY,
        )  # fmt: skip
    return None


class Executor:
    """Jobs accepted in full; applied at the start of the next batch, as `Worker` does with
    `executor.completed()`."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.in_flight: dict[str, Job] = {}
        self.submitted: list[tuple[int, str, str, tuple[Any, ...]]] = []
        self.batch = 0

    def busy(self, symbol: str) -> bool:
        return symbol in self.in_flight

    def submit(self, job: Job | None) -> bool:
        if job is None:
            return False
        self.submitted.append((self.batch, job.symbol, job.cause, job.actions))
        self.in_flight[job.symbol] = job
        return True

    def complete(self, changes: Changes) -> None:
        assert self.engine is not None
        jobs, self.in_flight = list(self.in_flight.values()), {}
        for job in jobs:
            outcomes = [Outcome(a, order=broker_order(a)) for a in job.actions]
            self.submit(apply_outcome(self.engine, JobResult(job, outcomes), changes))


class Seen:
    """The stand-in for `Housekeeping`: the quote path only tells it a symbol was quoted."""

    def saw_quote(self, symbol: str) -> None:
        pass


def new_engine(executor: Executor, clock: list[float]) -> Engine:
    engine = Engine(DEFAULT_PARAMS, busy=executor.busy, pnl_interval=5.0, clock=lambda: clock[0])
    engine.session = Session.REGULAR
    engine.load(opening_book())
    executor.engine = engine
    return engine


def written(changes: Changes) -> tuple[Any, ...]:
    states = {s: (to_hash(h) if h is not None else None) for s, h in changes.states.items()}
    return (list(changes.events), states, len(changes.dead_letters))


Record = tuple[list[tuple[int, str, str, tuple[Any, ...]]], list[tuple[Any, ...]], int]


def fast_path(client: redis.Redis, stream: list[dict[str, str]]) -> Record:
    for fields in stream:
        client.xadd(events.QUOTES_STREAM, cast(Any, fields))
    executor, clock = Executor(), [0.0]
    engine = new_engine(executor, clock)
    config = ConsumerConfig(consumer="fast", count=COUNT, block_ms=0)
    consumer = Consumer(client, [events.QUOTES_STREAM], config)
    consumer.ensure_groups()
    store = StateStore(client, config.group)
    dispatch = Dispatcher(engine, cast(Housekeeping, Seen()), executor.submit)
    log: list[tuple[Any, ...]] = []
    quotes = 0
    while True:
        changes = Changes()
        executor.complete(changes)
        log.append(written(changes))
        store.commit(changes)
        messages = consumer.read(0)
        if not messages:
            break
        quotes += len(messages)
        changes = Changes()
        dispatch.messages(messages, changes)
        log.append(written(changes))
        store.commit(changes)
        executor.batch += 1
        clock[0] += 1.0
    assert client.xpending(events.QUOTES_STREAM, config.group)["pending"] == 0  # all acked
    finals = [to_hash(h) for _, h in sorted(engine.held.items())]
    return executor.submitted, [*log, tuple(finals)], quotes


def reference_path(stream: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Record:
    with monkeypatch.context() as patch:
        patch.setattr(Position, "evolve", lambda self, **c: dataclasses.replace(self, **c))
        executor, clock = Executor(), [0.0]
        engine = new_engine(executor, clock)
        log: list[tuple[Any, ...]] = []
        batches = [stream[i : i + COUNT] for i in range(0, len(stream), COUNT)] + [[]]
        for batch in batches:
            changes = Changes()
            executor.complete(changes)
            log.append(written(changes))
            if not batch:
                break
            changes = Changes()
            for fields in batch:
                event = decode_event({k.encode(): v.encode() for k, v in fields.items()})
                held = engine.held.get(event.data["symbol"])
                if held is None:
                    continue
                executor.submit(engine.on_quote(held, parse_quote(event.data), changes))
            log.append(written(changes))
            executor.batch += 1
            clock[0] += 1.0
        finals = [to_hash(h) for _, h in sorted(engine.held.items())]
        return executor.submitted, [*log, tuple(finals)], len(stream)


@pytest.fixture
def stream() -> Iterator[list[dict[str, str]]]:
    yield recorded_stream()


def test_the_fast_path_decides_what_the_plain_evaluation_decides(
    redis_client: redis.Redis, stream: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = reference_path(stream, monkeypatch)
    fast = fast_path(redis_client, stream)
    assert fast[2] == reference[2] == len(stream)
    assert fast[0] == reference[0]  # every order job: batch, symbol, cause, actions
    for n, (got, want) in enumerate(zip(fast[1], reference[1], strict=True)):
        assert got == want, f"step {n}: events, states or dead letters differ"


def test_the_recorded_stream_exercises_every_kind_of_decision(
    stream: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above is not vacuous: the stream trails stops both ways, takes both profit
    levels, and breaches stops (said as `position.stop_hit`)."""
    jobs, log, _ = reference_path(stream, monkeypatch)
    actions = [a for *_, acts in jobs for a in acts]
    trails = {a.symbol for a in actions if isinstance(a, ReplaceStop) and a.reason == "trail"}
    exits = {a.reason for a in actions if isinstance(a, SubmitExit)}
    hits = {
        data["symbol"]
        for step in log[:-1]
        for name, data in step[0]
        if name == events.POSITION_STOP_HIT
    }
    assert {"AAPL", "MSFT", "AMD", "TSLA"} <= trails
    assert {"profit_target_1", "profit_target_2"} <= exits
    assert hits  # at least one stop crossed


def test_a_changed_decision_is_caught(
    redis_client: redis.Redis, stream: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison fails when one held quote is different (the last up-move of AAPL's
    first trail dropped from the reference's copy): it compares decisions, not just counts."""
    reference = reference_path(stream, monkeypatch)
    first_trail = next(
        b for b, symbol, _, acts in reference[0]
        if symbol == "AAPL" and any(isinstance(a, ReplaceStop) for a in acts)
    )  # fmt: skip
    changed = list(stream)
    for i in range(first_trail * COUNT, min(len(stream), (first_trail + 1) * COUNT)):
        if b'"AAPL"' in changed[i]["data"].encode():
            del changed[i]
            changed.append(stream[i])  # same length, the quote moved to the end
            break
    assert reference_path(changed, monkeypatch)[0] != reference[0]
