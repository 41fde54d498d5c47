"""What of each order the book has applied, so no order update is applied twice.

An order update can reach the book twice: once from the trade-update stream and once from the
broker's own record when the worker catches up after a restart or an outage (`book.catchup`),
in either order. The ledger is keyed by the broker's order id and remembers, per order, the
cumulative filled quantity applied (a fill is identified by its order and `cum_qty`, the same
number on a trade update's `order.filled_qty` and on an account activity) and whether a final
update (canceled, expired, rejected, replaced) was applied. It lives in the Redis hash
`APPLIED_ORDERS_KEY`, written in the same MULTI/EXEC as the state the update changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from book.state import Changes
from position_manager import events
from position_manager.redis_schema import text

FILL_EVENTS: Final = frozenset({events.ORDER_FILLED, events.ORDER_PARTIALLY_FILLED})
FINAL_EVENTS: Final = frozenset(
    {events.ORDER_CANCELED, events.ORDER_EXPIRED, events.ORDER_FAILED, events.ORDER_REPLACED}
)
# An entry no update has touched for this long is forgotten: a catch-up reads the broker from
# its cursor on (minutes back), and no stream message stays unread for a week.
KEEP_SECONDS: Final = 7 * 86_400


@dataclass(frozen=True, slots=True)
class AppliedOrder:
    filled_qty: Decimal = Decimal(0)  # cumulative filled quantity applied to the book
    final: bool = False  # a final update was applied
    at: float = 0.0  # host time (epoch seconds) of the last update applied

    def encode(self) -> str:
        return f"{format(self.filled_qty, 'f')}|{int(self.final)}|{self.at:.0f}"

    @classmethod
    def decode(cls, raw: Any) -> AppliedOrder:
        filled, final, at = text(raw).split("|")
        return cls(Decimal(filled), final == "1", float(at))


def decode_entries(raw: Mapping[str, Any]) -> dict[str, AppliedOrder]:
    """The hash's entries; an unreadable one is dropped (its order is then looked at again)."""
    out: dict[str, AppliedOrder] = {}
    for order_id, value in raw.items():
        try:
            out[order_id] = AppliedOrder.decode(value)
        except (ValueError, ArithmeticError):
            continue
    return out


class AppliedOrders:
    """The ledger in memory; every change also goes into the caller's `Changes`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, AppliedOrder] = {}

    def load(self, entries: Mapping[str, AppliedOrder]) -> None:
        self._entries = dict(entries)

    def get(self, order_id: str) -> AppliedOrder | None:
        return self._entries.get(order_id)

    def __len__(self) -> int:
        return len(self._entries)

    def already_applied(self, name: str, order_id: str, filled_qty: Decimal) -> bool:
        """True when this update's change is in the book already: a fill up to this cumulative
        quantity, a final update, or an `order.new` of an order something was applied for."""
        entry = self._entries.get(order_id)
        if entry is None:
            return False
        if name in FILL_EVENTS:
            return filled_qty > 0 and entry.filled_qty >= filled_qty
        if name in FINAL_EVENTS:
            return entry.final
        return name == events.ORDER_NEW

    def record(
        self, name: str, order_id: str, filled_qty: Decimal, changes: Changes, *, counted: bool
    ) -> None:
        """Note an update applied. `counted`: a fill that moved the book's quantity (a partial
        fill without the broker's position quantity waits for the final one and is not)."""
        entry = self._entries.get(order_id) or AppliedOrder()
        filled = max(entry.filled_qty, filled_qty) if counted else entry.filled_qty
        entry = AppliedOrder(filled, entry.final or name in FINAL_EVENTS, self._clock())
        self._entries[order_id] = entry
        changes.applied[order_id] = entry.encode()

    def forget_old(self, changes: Changes, keep_seconds: float = KEEP_SECONDS) -> int:
        """Drop entries untouched for `keep_seconds`; returns how many."""
        cutoff = self._clock() - keep_seconds
        old = [order_id for order_id, entry in self._entries.items() if entry.at < cutoff]
        for order_id in old:
            del self._entries[order_id]
            changes.applied[order_id] = None
        return len(old)
