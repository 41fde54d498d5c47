"""The live view of `position-manager up`: the book as the worker keeps it, and a running
timeline of its decisions, read from Redis only (any process could draw it).

Each position's row comes from its state hash (`pm:position:{SYM}`: quantity, entry, last price,
stop, protection), its risk parameters (`pm:risk:{SYM}`: whether the stop came from an ATR) and
the position stream (trailing events); the timeline is the position, order, alert and session
streams read incrementally (XREAD from the last id seen), one line per decision, e.g.
`10:00:03 NVDA +21 % -> sell 20 (profit_target_1) @ 143.39`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import redis
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from book.state import from_hash
from position_manager import events, redis_schema
from position_manager.market_calendar import NEW_YORK
from position_manager.session import Session
from rules.model import Position, Side
from rules.params import RuleParams
from rules.pnl import gain_pct, unrealized_pnl
from rules.stops import stop_and_target

log = logging.getLogger(__name__)

TIMELINE_STREAMS = (
    events.POSITIONS_STREAM,
    events.ORDERS_STREAM,
    events.ALERTS_STREAM,
    events.SESSION_STREAM,
)
BACKLOG = 200  # entries of each stream read at start (older decisions are in DuckDB)


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except ArithmeticError:
        return None


def _num(value: Any) -> str:
    found = _dec(value)
    return "?" if found is None else f"{found.normalize():f}"


def describe_event(event: events.Event, entries: Mapping[str, Decimal]) -> str | None:
    """One timeline line (without the time) for a decision, a fill, an alert or a session
    change; None for what is noise in a timeline (P&L ticks, pending states)."""
    d = event.data
    symbol = str(d.get("symbol") or "")
    name = event.event
    if name == events.SESSION_CHANGED:
        return f"session -> {d.get('session')}"
    if name == events.POSITION_PROFIT_TAKING:
        price, entry = _dec(d.get("current_price")), entries.get(symbol)
        move = ""
        if price is not None and entry:
            move = f" {(price - entry) / entry * 100:+.0f} %"
        return (
            f"{symbol}{move} -> sell {_num(d.get('shares_sold'))} ({d.get('trigger')}) "
            f"@ {_num(d.get('current_price'))}"
        )
    if name == events.POSITION_TRAILING_STOP_UPDATED:
        return f"{symbol} stop trailed {_num(d.get('old_stop'))} -> {_num(d.get('new_stop'))}"
    if name == events.POSITION_STOP_SET:
        basis = f", {d['basis']}" if d.get("basis") else ""
        return (
            f"{symbol} stop set {_num(d.get('qty'))} @ {_num(d.get('stop_price'))} "
            f"({d.get('reason')}{basis})"
        )
    if name == events.POSITION_STOP_HIT:
        return f"{symbol} stop hit @ {_num(d.get('current_price'))} ({d.get('trigger')})"
    if name == events.POSITION_EARNINGS_REDUCTION:
        return (
            f"{symbol} reports {d.get('report_date')} -> sell {_num(d.get('shares_sold'))} "
            "(pre-earnings)"
        )
    if name == events.POSITION_CLOSED:
        return f"{symbol} closed @ {_num(d.get('exit_price'))}, P&L {_money(d.get('pnl'))}"
    if name == events.POSITION_OPENED:
        return f"{symbol} opened {_num(d.get('quantity'))} @ {_num(d.get('entry_price'))}"
    if name == events.POSITION_ERROR:
        return f"{symbol or 'book'} error {d.get('error_type')}: {str(d.get('message'))[:80]}"
    if name in (events.ORDER_FILLED, events.ORDER_PARTIALLY_FILLED):
        verb = "bought" if d.get("side") == "buy" else "sold"
        part = " (partial)" if name == events.ORDER_PARTIALLY_FILLED else ""
        return f"{symbol} {verb} {_num(d.get('fill_qty'))} @ {_num(d.get('price'))}{part}"
    if name == events.ORDER_FAILED:
        return f"{symbol} order failed: {d.get('reason')}"
    if name.startswith("alert."):
        return f"ALERT {name.removeprefix('alert.')}: {d.get('message')}"
    return None


def _money(value: Any) -> str:
    found = _dec(value)
    return "?" if found is None else f"{found:+,.2f}"


@dataclass(frozen=True, slots=True)
class Row:
    """One position as the table shows it."""

    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    pnl: Decimal | None
    pnl_pct: Decimal | None
    stop: Decimal | None
    basis: str
    protection: str
    last_action: str


def stop_basis(
    position: Position,
    state: Mapping[str, str],
    atr: Decimal | None,
    trailed: bool,
    params: RuleParams,
) -> str:
    """Where the stop comes from: the state's own `basis` when the worker records one; else
    "trailed" when it trailed (an event said so, or it is tighter than the initial plan), else
    "atr" or "fallback" from the risk parameters."""
    recorded = state.get("stop_basis") or state.get("basis")
    if recorded:
        return recorded
    plan = stop_and_target(position.entry_price, position.side, position.cap_class, atr, params)
    stop = position.stop_price
    tighter = stop is not None and (
        stop > plan.stop_price if position.side is Side.LONG else stop < plan.stop_price
    )
    return "trailed" if trailed or tighter else plan.method


def protection(position: Position) -> str:
    if position.stop_order_id is None:
        return "UNPROTECTED"
    covered = position.stop_quantity or Decimal(0)
    if covered < int(position.coverable_size):
        return f"partial ({covered:f} of {position.size:f})"
    if position.stop_landing:
        return "stop landing"
    return "protected"


class BookView:
    """Reads the book and the decisions from Redis and renders them (see the module doc)."""

    def __init__(
        self,
        client: redis.Redis,
        params: RuleParams,
        *,
        market_time: Callable[[], datetime],
        title: str = "position-manager",
        lines: int = 14,
    ) -> None:
        self.client = client
        self.params = params
        self.market_time = market_time
        self.title = title
        self.footer: list[str] = []
        self.timeline: deque[str] = deque(maxlen=lines)
        self._new: list[str] = []  # timeline lines not yet taken by `drain`
        self.rows: list[Row] = []
        self.session = ""
        self.health: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._entries: dict[str, Decimal] = {}
        self._trailed: set[str] = set()
        self._last_action: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    # --- reading -------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read what changed since the last poll (Redis errors leave the last view shown)."""
        try:
            self._read_book()  # first: the entry prices the timeline's moves are measured from
            self._read_streams()
            self.rows = [
                replace(row, last_action=self._last_action.get(row.symbol, "")) for row in self.rows
            ]
        except redis.RedisError as exc:
            self.footer = [f"Redis: {exc}"]

    def _read_book(self) -> None:
        self.session = redis_schema.text_or_none(self.client.get(redis_schema.SESSION_KEY)) or "?"
        self.health = redis_schema.text_fields(self.client.hgetall(redis_schema.WORKER_HEALTH_KEY))
        session = Session(self.session) if self.session in Session.__members__ else Session.CLOSED
        rows = []
        pattern = redis_schema.POSITION_STATE_KEY.format(symbol="*")
        for key in sorted(self.client.scan_iter(match=pattern, count=500)):
            state = redis_schema.text_fields(self.client.hgetall(key))
            try:
                position = from_hash(state).position
            except (KeyError, ValueError, ArithmeticError):
                continue
            rows.append(self._row(position, state, session))
        self.rows = rows

    def _row(self, position: Position, state: Mapping[str, str], session: Session) -> Row:
        symbol = position.symbol
        self._entries[symbol] = position.entry_price
        risk = redis_schema.decode_risk_hash(
            symbol, self.client.hgetall(redis_schema.risk_key(symbol))
        )
        price = position.last_price
        pnl = unrealized_pnl(position, price, session) if price is not None else None
        return Row(
            symbol=symbol,
            side=position.side.value,
            qty=position.size,
            price=price,
            pnl=pnl.unrealized if pnl else None,
            pnl_pct=gain_pct(position, price) if price is not None else None,
            stop=position.stop_price,
            basis=stop_basis(position, state, risk.atr, symbol in self._trailed, self.params),
            protection=protection(position),
            last_action=self._last_action.get(symbol, ""),
        )

    def _read_streams(self) -> None:
        if not self._ids:
            for stream in TIMELINE_STREAMS:
                backlog = self.client.xrevrange(stream, count=BACKLOG)
                self._ids[stream] = "0-0"
                if backlog:
                    oldest = redis_schema.text(cast(list[Any], backlog)[-1][0])
                    ms, seq = oldest.split("-")
                    self._ids[stream] = f"{ms}-{int(seq) - 1}" if int(seq) else f"{int(ms) - 1}-0"
        answer = self.client.xread(dict(self._ids), count=500)  # type: ignore[arg-type]
        arrived = []
        for stream, entries in cast(list[tuple[Any, list[tuple[Any, Any]]]], answer or []):
            name = redis_schema.text(stream)
            for entry_id, fields in entries:
                self._ids[name] = text_id = redis_schema.text(entry_id)
                ms, seq = text_id.split("-")
                arrived.append((int(ms), int(seq), fields))
        # One timeline across the streams, in the order Redis received the entries.
        for _ms, _seq, fields in sorted(arrived, key=lambda entry: entry[:2]):
            self._apply(fields)

    def _apply(self, fields: Mapping[Any, Any]) -> None:
        try:
            event = events.decode_event(fields)
        except Exception:
            return
        self.counts[event.event] = self.counts.get(event.event, 0) + 1
        symbol = str(event.data.get("symbol") or "")
        if event.event == events.POSITION_TRAILING_STOP_UPDATED:
            self._trailed.add(symbol)
        elif event.event in (events.POSITION_OPENED, events.POSITION_CLOSED):
            self._trailed.discard(symbol)
        line = describe_event(event, self._entries)
        if line is None:
            return
        when = events.broker_time(event).astimezone(NEW_YORK)
        self.timeline.append(f"{when:%H:%M:%S} {line}")
        self._new.append(self.timeline[-1])
        if symbol:
            self._last_action[symbol] = line.removeprefix(symbol).strip()

    def drain(self) -> list[str]:
        """Every timeline line added since the last call (the table keeps only the latest)."""
        new, self._new = self._new, []
        return new

    # --- drawing -------------------------------------------------------------------------------
    def render(self) -> RenderableType:
        now = self.market_time().astimezone(NEW_YORK)
        status = self.health.get("status", "no worker")
        head = Text.assemble(
            (f"{self.title}  ", "bold"),
            f"market {now:%a %Y-%m-%d %H:%M:%S} New York  session ",
            (self.session, "bold cyan"),
            "  worker ",
            (status, "green" if status == "healthy" else "yellow"),
        )
        table = Table(header_style="bold", expand=False)
        for name in ("symbol", "side", "qty", "price", "P&L $", "P&L %", "stop (basis)"):
            table.add_column(name, justify="left" if name in ("symbol", "side") else "right")
        table.add_column("protection")
        table.add_column("last action", overflow="ellipsis", max_width=48)
        for row in self.rows:
            table.add_row(*self.cells(row))
        if not self.rows:
            table.add_row("(no positions)", *[""] * 8)
        timeline = Text("\n".join(self.timeline) or "(no decisions yet)")
        return Group(head, table, Text("decisions", style="bold"), timeline, *self.footer)

    @staticmethod
    def cells(row: Row) -> list[str]:
        colour = "green" if (row.pnl or 0) >= 0 else "red"
        guard = "green" if row.protection == "protected" else "red"
        return [
            row.symbol,
            row.side,
            f"{row.qty.normalize():f}",
            "-" if row.price is None else f"{row.price}",
            "-" if row.pnl is None else f"[{colour}]{row.pnl:,.2f}[/]",
            "-" if row.pnl_pct is None else f"[{colour}]{row.pnl_pct * 100:+.1f}%[/]",
            "-" if row.stop is None else f"{row.stop} ({row.basis})",
            f"[{guard}]{row.protection}[/]",
            row.last_action,
        ]
