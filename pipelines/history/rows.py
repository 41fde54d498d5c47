"""Turning stream messages into warehouse rows: position events, orders and alerts.

Pure functions plus one small ledger; no Redis, no DuckDB (the ingest job in
`pipelines.history.jobs` does the I/O). The worker's `position.*` events carry what each moment
needs, not the columns the views want, so the mapping fills them in:

- `position_key`: only `position.opened` names it; later events of the same symbol belong to the
  position opened last (the ledger remembers it; a position the worker adopted at start-up without
  an `opened` event is named by its Redis state, looked up by the caller).
- realized P&L from the broker's fills, never from a decision's price: `position.reduced` (a
  fill that made the position smaller) books the P&L the worker computed from that fill, and
  `position.closed` carries the worker's cumulative realized P&L, so the close books the
  difference (its own fill's). The sum over a position is exactly the worker's figure, and
  `daily_pnl` sees each partial exit on the session date it filled. A decision
  (`profit_taking`, `earnings_reduction`) books nothing: it is what was asked for, at the price
  that triggered it; its shares are in `data`. (History written before `position.reduced`
  existed has its partial exits booked by the close.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from position_manager import events
from position_manager.errors import InvalidEventError
from position_manager.events import Event
from position_manager.wire import quoted

POSITION_COLUMNS: Final = (
    "stream_id", "event_id", "event", "ts", "symbol", "position_key", "side", "quantity",
    "filled_qty", "price", "entry_price", "stop_price", "unrealized_pnl", "realized_pnl", "data",
)  # fmt: skip
ORDER_COLUMNS: Final = (
    "order_id", "client_order_id", "symbol", "side", "kind", "qty", "filled_qty",
    "filled_avg_price", "status", "position_key", "action", "replaced_by", "created_at",
    "updated_at",
)  # fmt: skip
ALERT_COLUMNS: Final = ("stream_id", "event_id", "event", "ts", "symbol", "message", "data")

# pm-<SYMBOL>-<l|s>-<10 hex>-<action...>: see rules.order_ids.
_CLIENT_ID: Final = re.compile(r"^pm-(?P<key>.+?-[ls]-[0-9a-f]{10})-(?P<action>[a-z]+\d?)")
_ACTIONS: Final = {
    "stop": "stop",
    "rp": "replace",
    "tp1": "profit_1",
    "tp2": "profit_2",
    "earn": "earnings",
    "breach": "stop_breach",
    "flat": "flatten",
}
_STATUS_BY_EVENT: Final = {
    events.ORDER_NEW: "new",
    events.ORDER_FILLED: "filled",
    events.ORDER_PARTIALLY_FILLED: "partially_filled",
    events.ORDER_CANCELED: "canceled",
    events.ORDER_REPLACED: "replaced",
    events.ORDER_EXPIRED: "expired",
    events.ORDER_FAILED: "rejected",
}


# The warehouse stores money and quantities as DECIMAL(20, 6) (warehouse/migrations/0001): at
# most 14 integer digits. A value past it cannot be stored, and one such value used to fail the
# whole batch's INSERT on every run, so the history stopped for good.
WAREHOUSE_DECIMAL_LIMIT: Final = Decimal(10) ** 14


def to_decimal(value: Any, name: str = "value") -> Decimal | None:
    """A storable Decimal from an event field (a decimal string or a JSON number); None when
    the field is absent. Raises `InvalidEventError` (the row is dead-lettered) for anything the
    warehouse cannot hold: not a number, NaN, infinite, too big for DECIMAL(20, 6), digits that
    are not ASCII."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidEventError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise InvalidEventError(f"{name} is too big for the warehouse")
    text = value if isinstance(value, str) else str(value)
    if not text.isascii() or len(text) > 60:
        raise InvalidEventError(f"{name} is not a decimal number: {quoted(text)}")
    try:
        result = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InvalidEventError(f"{name} is not a number: {quoted(text)}") from None
    if not result.is_finite():
        raise InvalidEventError(f"{name} is not finite: {quoted(text)}")
    if abs(result) >= WAREHOUSE_DECIMAL_LIMIT:
        raise InvalidEventError(f"{name} {quoted(text)} is too big for DECIMAL(20, 6)")
    return result


def _text(value: Any, name: str = "value") -> str | None:
    """Text for a VARCHAR column (numbers as their text); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidEventError(f"{name} must be text, got {type(value).__name__}")
    return value if isinstance(value, str) else str(value)


# Every field `position_row` reads, checked before the ledger is touched: a row that cannot be
# stored is refused whole and leaves the ledger as it was.
_POSITION_NUMBERS: Final = (
    "quantity", "entry_price", "stop_price", "added", "new_stop", "unrealized_pnl",
    "current_price", "shares_sold", "exit_price", "pnl", "quantity_closed", "price", "shares",
    "realized_pnl", "slippage", "slippage_pct",
)  # fmt: skip
_POSITION_TEXTS: Final = ("symbol", "position_key", "side")


def check_position_data(d: dict[str, Any]) -> dict[str, Decimal]:
    """Raise `InvalidEventError` when a `position.*` event's data cannot be stored; else the
    numbers it holds, by field name (absent ones left out), each converted once."""
    numbers: dict[str, Decimal] = {}
    for name in _POSITION_NUMBERS:
        value = d.get(name)
        if value is not None and value != "":
            number = to_decimal(value, name)
            if number is not None:
                numbers[name] = number
    for name in _POSITION_TEXTS:
        _text(d.get(name), name)
    return numbers


@dataclass
class LedgerEntry:
    """What the ingest knows about one open position between two events."""

    symbol: str
    side: str | None
    quantity: Decimal | None
    entry_price: Decimal | None
    realized: Decimal = Decimal(0)


@dataclass
class PositionLedger:
    """Open positions by key, and which key a symbol's next event belongs to.

    Loaded from the warehouse at the start of an ingest run (`open_positions`), then kept in step
    with the rows as they are mapped, in stream order.
    """

    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    key_by_symbol: dict[str, str] = field(default_factory=dict)
    fallback_key: Callable[[str], str | None] = lambda symbol: None

    def key_for(self, symbol: str) -> str | None:
        key = self.key_by_symbol.get(symbol)
        if key is None and symbol:
            key = self.fallback_key(symbol)
            if key is not None:
                self.key_by_symbol[symbol] = key
                self.entries.setdefault(key, LedgerEntry(symbol, None, None, None))
        return key


def position_row(stream_id: str, event: Event, ledger: PositionLedger) -> dict[str, Any]:
    """One `position_events` row for a `position.*` message (updates the ledger); raises
    `InvalidEventError` first, ledger untouched, when the data cannot be stored."""
    d = event.data
    n = check_position_data(d)
    symbol = _text(d.get("symbol")) or ""
    name = event.event
    key = _text(d.get("position_key"))
    if name == events.POSITION_OPENED and key is not None:
        ledger.key_by_symbol[symbol] = key
    else:
        key = key or ledger.key_for(symbol)
    entry = ledger.entries.get(key) if key else None
    if key is not None and entry is None:
        entry = ledger.entries[key] = LedgerEntry(symbol, None, None, None)
    row: dict[str, Any] = {c: None for c in POSITION_COLUMNS}
    row.update(
        stream_id=stream_id,
        event_id=event.id,
        event=name,
        ts=event.ts,
        symbol=symbol,
        position_key=key,
        data=json.dumps(d, separators=(",", ":")),
        # Newer workers stamp every event with the position's side and entry price.
        side=_text(d.get("side")),
        entry_price=n.get("entry_price"),
    )
    if entry is not None and name != events.POSITION_OPENED:
        entry.side = row["side"] or entry.side
        entry.entry_price = row["entry_price"] or entry.entry_price
    if name == events.POSITION_OPENED:
        _opened(row, d, n, entry)
    elif name == events.POSITION_STOP_SET:
        row["stop_price"] = n.get("stop_price")
    elif name == events.POSITION_TRAILING_STOP_UPDATED:
        row["stop_price"] = n.get("new_stop")
    elif name == events.POSITION_PNL_UPDATED:
        row["unrealized_pnl"] = n.get("unrealized_pnl")
        row["price"] = n.get("current_price")
    elif name in (events.POSITION_PROFIT_TAKING, events.POSITION_EARNINGS_REDUCTION):
        row["price"] = n.get("current_price")  # the decision's, not a fill's
    elif name == events.POSITION_REDUCED:
        _reduced(row, n, entry)
    elif name in (events.POSITION_STOP_HIT, events.POSITION_TARGET_HIT):
        row["price"] = n.get("current_price")
        row["stop_price"] = n.get("stop_price")
    elif name == events.POSITION_CLOSED:
        _closed(row, n, entry)
        if key is not None:
            ledger.entries.pop(key, None)
            if ledger.key_by_symbol.get(symbol) == key:
                del ledger.key_by_symbol[symbol]
    if entry is not None:
        row["side"] = row["side"] or entry.side
        row["entry_price"] = row["entry_price"] or entry.entry_price
    return row


def _opened(
    row: dict[str, Any], d: dict[str, Any], n: dict[str, Decimal], entry: LedgerEntry | None
) -> None:
    quantity = n.get("quantity")
    side = _text(d.get("side"))
    if side is None and quantity is not None:
        side = "long" if quantity > 0 else "short"
    added = n.get("added")
    row.update(
        side=side,
        quantity=quantity,
        entry_price=n.get("entry_price"),
        stop_price=n.get("stop_price"),
    )
    if added is None:  # a new position: filled at its entry price
        row["filled_qty"] = abs(quantity) if quantity is not None else None
        row["price"] = row["entry_price"]
    else:  # added to: the entry price is the new average
        row["filled_qty"] = added
    if entry is not None:
        entry.side = side or entry.side
        entry.quantity = quantity if quantity is not None else entry.quantity
        entry.entry_price = row["entry_price"] or entry.entry_price


def _sign(side: str | None) -> int:
    return -1 if side == "short" else 1


def _reduced(row: dict[str, Any], n: dict[str, Decimal], entry: LedgerEntry | None) -> None:
    shares = n.get("shares")
    realized = n.get("realized_pnl")
    quantity = n.get("quantity")
    row.update(filled_qty=shares, price=n.get("price"), quantity=quantity)
    row["stop_price"] = n.get("stop_price")  # a stop's own price: its gap
    row["realized_pnl"] = realized if realized is not None else Decimal(0)
    if entry is not None:
        entry.quantity = quantity if quantity is not None else entry.quantity
        entry.realized += row["realized_pnl"]


def _closed(row: dict[str, Any], n: dict[str, Decimal], entry: LedgerEntry | None) -> None:
    """The shares this event closes are those the ledger still counts as open: when the close
    is the fill of an exit already booked (a profit-taking that sold the rest), that is zero and
    `quantity_closed` would count the same shares twice."""
    closed_qty = n.get("quantity_closed")
    if entry is not None and entry.quantity is not None:
        closed_qty = abs(entry.quantity)
    row.update(quantity=Decimal(0), price=n.get("exit_price"), filled_qty=closed_qty)
    row["stop_price"] = n.get("stop_price")  # a stop's own price: its gap
    total = n.get("pnl")
    if total is not None:
        row["realized_pnl"] = total - (entry.realized if entry is not None else Decimal(0))
    elif entry is not None and row["filled_qty"] is None:
        row["realized_pnl"] = Decimal(0)


def order_action(client_order_id: str) -> tuple[str | None, str | None]:
    """(position_key, action) from one of our deterministic client order ids; (None, None) for
    orders placed by hand or by another system."""
    if client_order_id.startswith("pm-entry-"):
        return None, "entry"
    match = _CLIENT_ID.match(client_order_id)
    if match is None:
        return None, None
    action = match["action"]
    return match["key"], _ACTIONS.get(action, action)


def order_row(event: Event) -> dict[str, Any] | None:
    """The latest known state of one order from an `order.*` message; None without an order id.
    Raises `InvalidEventError` for a field the warehouse cannot store (a price of "inf")."""
    d = event.data
    for name in ("price", "fill_qty", "position_qty"):  # not stored, but a fill's own numbers
        to_decimal(d.get(name), name)
    order_id = _text(d.get("order_id"), "order_id")
    if order_id is None:
        return None
    client_id = _text(d.get("client_order_id")) or order_id
    key, action = order_action(client_id)
    # On the broker's clock like the position events, or `protection` would compare two clocks.
    ts: datetime = events.broker_time(event)
    return {
        "order_id": order_id,
        "client_order_id": client_id,
        "symbol": _text(d.get("symbol")) or "",
        "side": _text(d.get("side")) or "",
        "kind": _text(d.get("order_type")) or "",
        "qty": to_decimal(d.get("qty"), "qty"),
        "filled_qty": to_decimal(d.get("filled_qty"), "filled_qty"),
        "filled_avg_price": to_decimal(d.get("filled_avg_price"), "filled_avg_price"),
        "status": _text(d.get("status")) or _STATUS_BY_EVENT.get(event.event, event.event),
        "position_key": key,
        "action": action,
        "replaced_by": _text(d.get("replaced_by")),
        "created_at": ts if event.event == events.ORDER_NEW else None,
        "updated_at": ts,
    }


def alert_row(stream_id: str, event: Event) -> dict[str, Any]:
    d = event.data
    return {
        "stream_id": stream_id,
        "event_id": event.id,
        "event": event.event,
        "ts": event.ts,
        "symbol": _text(d.get("symbol")),
        "message": _text(d.get("message")),
        "data": json.dumps(d, separators=(",", ":")),
    }
