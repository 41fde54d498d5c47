"""What one look at the broker's book says: each order as the invariants see it, which decision
an order carries out, whether a held position has a live stop. Pure functions over the
simulator's `SimBook`, shared by the sampler (`monitor`) and the final checks (`checks`)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from position_manager.broker_types import STOP_ORDER_TYPES
from rules.invariants import OPEN, OrderView, closing_side
from simulator.state import SimBook

# pm-<SYMBOL>-<l|s>-<10 hex>-<action>: rules.order_ids. A profit level, a pre-earnings cut for
# one report date or a stop-breach exit is one decision whatever its re-armed generation (-rN).
_DECISION = re.compile(
    r"^pm-(?P<key>.+?-[ls]-[0-9a-f]{10})-(?P<action>tp[12]|earn-\d{8}|breach)(?:-|$)"
)
_KEY = re.compile(r"^pm-(?P<key>.+?-[ls]-[0-9a-f]{10})-")


def order_views(book: SimBook) -> list[OrderView]:
    return [
        OrderView(
            o.id,
            o.client_order_id,
            o.symbol,
            o.side,
            o.type,
            o.qty,
            o.filled_qty,
            o.status,
            o.replaces,
        )
        for o in book.orders.values()
    ]


def positions(book: SimBook) -> dict[str, Decimal]:
    return {s: p.qty for s, p in book.positions.items() if p.qty != 0}


def position_key(client_order_id: str) -> str | None:
    m = _KEY.match(client_order_id)
    return m.group("key") if m else None


def decision_of(client_order_id: str) -> tuple[str, str] | None:
    """(position key, decision) of an exit order; None for stops and anything else."""
    m = _DECISION.match(client_order_id)
    return (m.group("key"), m.group("action")) if m else None


def unprotected(book: SimBook) -> set[str]:
    """Held symbols with no live stop on their closing side at the broker."""
    held = positions(book)
    guarded = {
        o.symbol
        for o in book.orders.values()
        if o.status in OPEN
        and o.type in STOP_ORDER_TYPES
        and o.symbol in held
        and o.side == closing_side(held[o.symbol])
    }
    return set(held) - guarded


def flipped(book: SimBook, original: dict[str, Decimal]) -> set[str]:
    """Symbols now held on the other side from the one they were opened on."""
    return {
        s for s, qty in positions(book).items() if s in original and (qty > 0) != (original[s] > 0)
    }


def open_decisions_twice(orders: Iterable[OrderView]) -> list[str]:
    """One decision with two orders working at once (two generations of one profit level)."""
    working: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o in orders:
        decision = decision_of(o.client_order_id)
        if decision is not None and o.status in OPEN:
            working[decision].append(o.client_order_id)
    return [f"{k} {d}: {ids} working at once" for (k, d), ids in working.items() if len(ids) > 1]


def peak_in_window(series: list[tuple[float, int]], window: float = 60.0) -> int:
    """The most requests counted in any `window` seconds, from (time, running count) samples."""
    best, first = 0, 0
    for t, count in series:
        while series[first][0] < t - window:
            first += 1
        best = max(best, count - series[first][1])
    return best
