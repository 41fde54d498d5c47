"""The position state the broker does not hold, in Redis, written atomically with its events.

Best price, profit levels taken, original quantity, the report date already reduced for, the stop
generation, position key, stop order id/price/qty, target and realized P&L live in the hash
`POSITION_STATE_KEY`. `StateStore.commit` writes state changes, the events they cause and the XACK
of the messages that caused them in one MULTI/EXEC: after a crash either all of it happened or
none of it did, and an unacked message is simply processed again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, cast

import redis

from book.broker_clock import BrokerClock, read_clock, record_clock
from position_manager.cap_class import CapClass
from position_manager.events import DEAD_LETTER_STREAM, encode_event, stream_for
from position_manager.logging import log_kv
from position_manager.redis_schema import (
    APPLIED_ORDERS_KEY,
    CATCH_UP_KEY,
    POSITION_STATE_KEY,
    STATE_EARNINGS_REDUCED_FOR,
    STATE_STOP_BASIS,
    STOP_BASES,
    dead_letter_fields,
    redis_fields,
    state_key,
    text,
    text_fields,
)
from position_manager.session import Session
from rules.model import Position, StopBasis

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Held:
    """One held position plus what only the worker tracks about it."""

    position: Position
    realized_pnl: Decimal = Decimal(0)
    # Client ids of exits sent but not yet applied: after a crash, the startup looks them up at
    # the broker so a flag (profit level, earnings date) set by an accepted exit is never lost.
    inflight: tuple[str, ...] = ()


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def to_hash(held: Held) -> dict[str, str]:
    p = held.position
    return {
        "symbol": p.symbol,
        "quantity": _s(p.quantity),
        "entry_price": _s(p.entry_price),
        "original_quantity": _s(p.original_quantity),
        "position_key": p.position_key,
        "cap_class": p.cap_class.value,
        "stop_price": _s(p.stop_price),
        "target_price": _s(p.target_price),
        "stop_order_id": _s(p.stop_order_id),
        "stop_quantity": _s(p.stop_quantity),
        "best_price": _s(p.best_price),
        "profit_levels_taken": ",".join(str(level) for level in sorted(p.profit_levels_taken)),
        STATE_EARNINGS_REDUCED_FOR: _s(p.earnings_reduced_for),
        "stop_generation": str(p.stop_generation),
        "last_price": _s(p.last_price),
        "last_updated": _s(p.last_updated),
        "session": p.session.value,
        "realized_pnl": _s(held.realized_pnl),
        "inflight": ",".join(held.inflight),
        "stop_hit_for": _s(p.stop_hit_for),
        "working_exits": ";".join(
            f"{cid}:{ordered}:{filled}" for cid, ordered, filled in p.working_exits
        ),
        "exit_generation": str(p.exit_generation),
        "stop_landing": _s(p.stop_landing),
        "earnings_unsold": _s(p.earnings_unsold),
        STATE_STOP_BASIS: _s(p.stop_basis),
        "breach_exit": f"{p.breach_exit[0]}:{p.breach_exit[1]}" if p.breach_exit else "",
    }


def _dec(value: str) -> Decimal | None:
    return Decimal(value) if value else None


def _working_exits(raw: str) -> tuple[tuple[str, Decimal, Decimal], ...]:
    out = []
    for item in raw.split(";"):
        if item:
            cid, ordered, filled = item.rsplit(":", 2)
            out.append((cid, Decimal(ordered), Decimal(filled)))
    return tuple(out)


def _breach_exit(raw: str) -> tuple[str, Decimal] | None:
    if not raw:
        return None
    order_id, limit = raw.rsplit(":", 1)
    return order_id, Decimal(limit)


def _stop_basis(raw: str) -> StopBasis | None:
    """An unknown spelling reads as "not known": never as a fallback to re-plan."""
    return cast(StopBasis, raw) if raw in STOP_BASES else None


def from_hash(raw: Mapping[Any, Any]) -> Held:
    """Rebuild a position from its hash; raises ValueError/KeyError on a corrupt one."""
    h = text_fields(raw)
    levels = frozenset(int(x) for x in h.get("profit_levels_taken", "").split(",") if x)
    reduced = h.get(STATE_EARNINGS_REDUCED_FOR, "")
    updated = h.get("last_updated", "")
    position = Position(
        symbol=h["symbol"],
        quantity=Decimal(h["quantity"]),
        entry_price=Decimal(h["entry_price"]),
        original_quantity=Decimal(h["original_quantity"]),
        position_key=h["position_key"],
        cap_class=CapClass(h.get("cap_class") or "large"),
        stop_price=_dec(h.get("stop_price", "")),
        target_price=_dec(h.get("target_price", "")),
        stop_order_id=h.get("stop_order_id") or None,
        stop_quantity=_dec(h.get("stop_quantity", "")),
        best_price=_dec(h.get("best_price", "")),
        profit_levels_taken=levels,
        earnings_reduced_for=date.fromisoformat(reduced) if reduced else None,
        stop_generation=int(h.get("stop_generation") or 0),
        last_price=_dec(h.get("last_price", "")),
        last_updated=datetime.fromisoformat(updated) if updated else None,
        session=Session(h.get("session") or "CLOSED"),
        stop_hit_for=h.get("stop_hit_for") or None,
        working_exits=_working_exits(h.get("working_exits", "")),
        exit_generation=int(h.get("exit_generation") or 0),
        stop_landing=h.get("stop_landing") or None,
        earnings_unsold=_dec(h.get("earnings_unsold", "")),
        stop_basis=_stop_basis(h.get(STATE_STOP_BASIS, "")),
        breach_exit=_breach_exit(h.get("breach_exit", "")),
    )
    inflight = tuple(x for x in h.get("inflight", "").split(",") if x)
    return Held(position, _dec(h.get("realized_pnl", "")) or Decimal(0), inflight)


@dataclass(frozen=True, slots=True)
class Savepoint:
    """How big a `Changes` was at one moment (for the states: how long its undo journal was)."""

    states: int
    events: int
    dead_letters: int
    acks: dict[str, int]


@dataclass(frozen=True, slots=True)
class CatchUpCursor:
    """Where catching up with the broker stands (`book.catchup`), in the broker's time:
    `caught_up_to`, the next read starts (a little) before it; `ledger_since`, changes before it
    were applied, if at all, before the applied-order ledger existed and are never replayed."""

    caught_up_to: datetime | None = None
    ledger_since: datetime | None = None


def _when(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


_ABSENT: Final = object()  # `Changes._undo`: the symbol was not in `states`


@dataclass
class Changes:
    """Everything one step of the worker wants written together."""

    states: dict[str, Held | None] = field(default_factory=dict)  # None deletes (closed)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    acks: dict[str, list[Any]] = field(default_factory=dict)  # stream -> message ids
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    # order id -> encoded `book.applied.AppliedOrder` (None forgets it)
    applied: dict[str, str | None] = field(default_factory=dict)
    # the broker time the book has now caught up to (`book.catchup`)
    caught_up_to: datetime | None = None
    # set once, at the first catch-up: the ledger knows every change applied from then on
    ledger_since: datetime | None = None
    # (symbol, what `states` held for it before) for every put and delete, so `rollback` undoes
    # them in reverse. A savepoint used to copy `states` whole: the quote path takes one per
    # held quote, and a batch's `states` holds hundreds of symbols.
    _undo: list[tuple[str, object]] = field(default_factory=list, repr=False, compare=False)

    def put(self, held: Held) -> None:
        self._set_state(held.position.symbol, held)

    def delete(self, symbol: str) -> None:
        self._set_state(symbol, None)

    def _set_state(self, symbol: str, held: Held | None) -> None:
        states = self.states
        self._undo.append((symbol, states.get(symbol, _ABSENT)))
        states[symbol] = held

    def emit(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((name, data))

    def ack(self, stream: str, message_id: Any) -> None:
        self.acks.setdefault(stream, []).append(message_id)

    def ack_many(self, stream: str, message_ids: Iterable[Any]) -> None:
        self.acks.setdefault(stream, []).extend(message_ids)

    def dead(self, stream: str, message_id: Any, fields: Mapping[Any, Any], reason: str) -> None:
        """Dead-letter a message (reason + original fields) and ack it, in the same commit."""
        letter = dead_letter_fields(stream, message_id, fields, reason)
        self.dead_letters.append(letter)
        self.ack(stream, message_id)
        log_kv(
            log,
            logging.WARNING,
            "message dead-lettered",
            stream=stream,
            message_id=letter["source_id"],
            reason=letter["reason"],
        )

    def savepoint(self) -> Savepoint:
        """A mark to `rollback` to: what one message adds can be undone if its handler fails
        half-way, so its neighbours' changes are still committed and its own are not."""
        return Savepoint(
            len(self._undo),
            len(self.events),
            len(self.dead_letters),
            {stream: len(ids) for stream, ids in self.acks.items()},
        )

    def rollback(self, mark: Savepoint) -> None:
        """Forget everything added since `mark` (`states` keeps its order: a symbol first put
        after the mark goes, one put before gets its value back in its place)."""
        undo, states = self._undo, self.states
        while len(undo) > mark.states:
            symbol, before = undo.pop()
            if before is _ABSENT:
                del states[symbol]
            else:
                states[symbol] = cast(Held | None, before)
        del self.events[mark.events :]
        del self.dead_letters[mark.dead_letters :]
        for stream in list(self.acks):
            kept = mark.acks.get(stream)
            if kept is None:
                del self.acks[stream]
            else:
                del self.acks[stream][kept:]

    def __bool__(self) -> bool:
        return bool(
            self.states
            or self.events
            or self.dead_letters
            or any(self.acks.values())
            or self.applied
            or self.caught_up_to is not None
            or self.ledger_since is not None
        )


_SET_INFLIGHT = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('hset', KEYS[1], 'inflight', ARGV[1])
end
return 0
"""


def record_inflight(client: redis.Redis, symbol: str, client_order_ids: Iterable[str]) -> None:
    """Write-ahead: note the exits about to be sent (only into an existing state hash)."""
    client.eval(_SET_INFLIGHT, 1, state_key(symbol), ",".join(client_order_ids))


def position_identity(position: Position) -> dict[str, Any]:
    """What every position.* event carries so history can group it without live state: the
    position's key, side and entry (the state hash is gone once the position closes)."""
    return {
        "position_key": position.position_key,
        "side": position.side.value,
        "entry_price": position.entry_price,
    }


class StateStore:
    """Reads and atomically writes position state, events and acks."""

    def __init__(self, client: redis.Redis, group: str) -> None:
        self._client = client
        self._group = group
        # Events are stamped with the broker's time (`book.broker_clock`), read from the
        # session publisher's record by `refresh_clock`; the host's until there is one.
        self.clock = BrokerClock()
        # Last identity written per symbol, kept until the commit that closes the position.
        self._identity: dict[str, dict[str, Any]] = {}

    def load_all(self) -> dict[str, Held]:
        """Every persisted position; corrupt hashes are skipped (the startup scan rebuilds them
        from the broker)."""
        out: dict[str, Held] = {}
        for key in self._client.scan_iter(match=POSITION_STATE_KEY.format(symbol="*"), count=500):
            raw = self._client.hgetall(key)
            try:
                held = from_hash(raw)
            except (KeyError, ValueError, ArithmeticError):
                continue
            out[held.position.symbol] = held
            self._identity[held.position.symbol] = position_identity(held.position)
        return out

    def load_applied(self) -> dict[str, Any]:
        """The applied-order ledger's raw entries (order id -> encoded entry)."""
        raw = self._client.hgetall(APPLIED_ORDERS_KEY)
        return {text(k): v for k, v in raw.items()}

    def catch_up_cursor(self) -> CatchUpCursor:
        """Where the last catch-up with the broker left off (all None before the first)."""
        raw = text_fields(self._client.hgetall(CATCH_UP_KEY))
        return CatchUpCursor(_when(raw.get("caught_up_to")), _when(raw.get("ledger_since")))

    def refresh_clock(self) -> None:
        """Take the broker clock's latest recorded reading (one HGETALL; a failure keeps the
        reading held)."""
        self.clock.observe(read_clock(self._client))

    def record_clock(self) -> None:
        """Record the reading held (one the worker took itself) for the other processes."""
        reading = self.clock.reading
        if reading is not None:
            record_clock(self._client, reading)

    def commit(self, changes: Changes) -> None:
        """HSET/DEL + XADD + XACK in one MULTI/EXEC (one round trip)."""
        if not changes:
            return
        pipe = self._client.pipeline(transaction=True)
        for symbol, held in changes.states.items():
            if held is None:
                pipe.delete(state_key(symbol))
            else:
                pipe.hset(state_key(symbol), mapping=redis_fields(to_hash(held)))
                self._identity[symbol] = position_identity(held.position)
        for name, data in changes.events:
            if name.startswith("position.") and "symbol" in data:
                data = {**self._identity.get(data["symbol"], {}), **data}
            stamped = encode_event(name, data, ts=self.clock.now())
            pipe.xadd(stream_for(name), redis_fields(stamped))
        for fields in changes.dead_letters:
            pipe.xadd(DEAD_LETTER_STREAM, redis_fields(fields))
        for stream, ids in changes.acks.items():
            if ids:
                pipe.xack(stream, self._group, *ids)
        written: dict[str, str] = {k: v for k, v in changes.applied.items() if v is not None}
        forgotten = [k for k, v in changes.applied.items() if v is None]
        if written:
            pipe.hset(APPLIED_ORDERS_KEY, mapping=redis_fields(written))
        if forgotten:
            pipe.hdel(APPLIED_ORDERS_KEY, *forgotten)
        if changes.caught_up_to is not None:
            pipe.hset(CATCH_UP_KEY, "caught_up_to", changes.caught_up_to.isoformat())
        if changes.ledger_since is not None:
            pipe.hsetnx(CATCH_UP_KEY, "ledger_since", changes.ledger_since.isoformat())
        pipe.execute()
        for symbol, held in changes.states.items():
            if held is None:
                self._identity.pop(symbol, None)
