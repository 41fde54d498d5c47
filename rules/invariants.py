"""The promises, as checks over the broker, the streams and the book: never oversold, never
flipped, never two stops, every whole share covered, each profit level sold at most once, each
event once. One module so the stateful tests and the chaos run (`app.chaos`) check the same
things.

Pure functions over plain values (orders as `OrderView`, positions as quantities, decoded
events): whoever checks reads the broker and the streams. Each check returns a list of violations
(sentences naming the symbol and the orders), empty when the promise holds, so a failing example
says exactly what broke.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from position_manager import events
from position_manager.broker_types import STOP_ORDER_TYPES
from rules.quantities import stop_quantity

OPEN = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "partially_filled",
        "held",
        "pending_replace",
        "pending_cancel",
    }
)
_LEVEL = re.compile(r"^pm-(?P<key>.+)-tp(?P<level>[12])(?:-r\d+)?$")


@dataclass(frozen=True, slots=True)
class OrderView:
    """What the checks need of an order, whatever side of the wire it was read from."""

    id: str
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str
    qty: Decimal
    filled_qty: Decimal
    status: str
    replaces: str | None = None  # a replacement: until it lands, the order it replaces counts


def closing_side(position_qty: Decimal) -> str:
    return "sell" if position_qty > 0 else "buy"


def _working(orders: Iterable[OrderView]) -> list[OrderView]:
    """Open orders, a replacement counted instead of the order it replaces once it has landed
    (until then the old one still holds the shares, and only one of the two can work)."""
    listed = list(orders)
    live = [o for o in listed if o.status in OPEN]
    replaced_by_landed = {o.replaces for o in live if o.replaces and o.status != "pending_new"}
    pending_replacements = {o.id for o in live if o.replaces and o.status == "pending_new"}
    return [o for o in live if o.id not in replaced_by_landed and o.id not in pending_replacements]


def no_oversell_or_flip(positions: dict[str, Decimal], orders: Iterable[OrderView]) -> list[str]:
    """Open orders on a position's closing side never exceed its size: none can flip it, and a
    flat symbol has no closing order at all (a stop left there would open a new position)."""
    out = []
    open_orders = _working(orders)
    for symbol in {o.symbol for o in open_orders} | set(positions):
        qty = positions.get(symbol, Decimal(0))
        if qty == 0:
            left = [o.id for o in open_orders if o.symbol == symbol]
            if left:
                out.append(f"{symbol}: flat but orders still open: {left}")
            continue
        side = closing_side(qty)
        working = sum(
            (o.qty - o.filled_qty for o in open_orders if o.symbol == symbol and o.side == side),
            Decimal(0),
        )
        if working > abs(qty):
            out.append(f"{symbol}: {working} working to close {abs(qty)} held")
    return out


def one_stop_per_position(orders: Iterable[OrderView]) -> list[str]:
    stops = Counter(o.symbol for o in _working(orders) if o.type in STOP_ORDER_TYPES)
    return [f"{symbol}: {n} live stops" for symbol, n in stops.items() if n > 1]


def whole_shares_covered(positions: dict[str, Decimal], orders: Iterable[OrderView]) -> list[str]:
    """Every whole share is covered by the live stop or held by a working exit. Check it only
    once the worker had its chance (idle, no retry pending, in a session that places stops)."""
    out = []
    open_orders = _working(orders)
    for symbol, qty in positions.items():
        if qty == 0:
            continue
        side = closing_side(qty)
        closing = [o for o in open_orders if o.symbol == symbol and o.side == side]
        covered = sum((o.qty - o.filled_qty for o in closing), Decimal(0))
        if covered < stop_quantity(abs(qty)):
            out.append(f"{symbol}: {covered} of {abs(qty)} shares covered")
    return out


def profit_levels_sold_once(
    orders: Iterable[OrderView], original_qty: dict[str, Decimal]
) -> list[str]:
    """Level 1 sells at most half of what was bought, across all its re-armed generations."""
    sold: Counter[tuple[str, str]] = Counter()
    for o in orders:
        m = _LEVEL.match(o.client_order_id)
        if m:
            sold[(m.group("key"), m.group("level"))] += o.filled_qty  # type: ignore[assignment]
    out = []
    for (key, level), qty in sold.items():
        original = original_qty.get(key)
        if level == "1" and original is not None and qty > original / 2:
            out.append(f"{key}: level 1 sold {qty} of {original}")
    return out


def events_once(position_events: Iterable[events.Event]) -> list[str]:
    """No event id twice, and one `position.closed` per position (the positions stream's
    events, decoded, in stream order)."""
    ids: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    for event in position_events:
        ids[event.id] += 1
        if event.event == events.POSITION_CLOSED:
            closed[str(event.data.get("position_key"))] += 1
    out = [f"event {i} emitted {n} times" for i, n in ids.items() if n > 1]
    out += [f"{key}: closed {n} times" for key, n in closed.items() if n > 1]
    return out
