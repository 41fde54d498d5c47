"""Protection first when the rate budget is short: which unprotected position gets its stop first.

With N positions to protect and Alpaca's 200 requests a minute, the last stop of a 1,000-position
book lands five minutes after the first. The order should put the money most likely to be lost in
that wait first: a position's urgency is its notional divided by how far (as a fraction of its
price) it is from breaching its planned stop — a large position close to its stop before a small
one far from it (the issue's "notional times distance to a breach", read as the exposure per unit
of move needed to breach). One already through its stop (its emergency exit) goes before all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from rules.model import Position, Side

# A distance is never read as closer than this (a price a hair from its stop would otherwise
# divide by almost nothing and rank above one already breached).
MIN_DISTANCE: Final = Decimal("0.0001")


@dataclass(frozen=True, slots=True, order=True)
class Urgency:
    """Sorts most urgent first when used as a key (`sorted(..., key=urgency)`)."""

    breached: int  # 0 when through the stop (first), 1 otherwise
    exposure: Decimal  # negated notional / distance: the larger the exposure, the earlier


def breach_distance(side: Side, price: Decimal, stop: Decimal) -> Decimal:
    """How far price must move to breach `stop`, as a fraction of price (<= 0: breached)."""
    move = price - stop if side is Side.LONG else stop - price
    return move / price


def urgency(position: Position, price: Decimal | None, stop: Decimal) -> Urgency:
    """The sort key of an unprotected position (price: its last known; the entry without one)."""
    mark = price if price is not None and price > 0 else position.entry_price
    distance = breach_distance(position.side, mark, stop)
    notional = abs(position.quantity) * mark
    if distance <= 0:
        return Urgency(0, -notional)
    return Urgency(1, -(notional / max(distance, MIN_DISTANCE)))


def protection_eta_seconds(requests: int, limit_per_minute: int) -> float:
    """How long `requests` take at the budget's floor (the first window's worth goes at once)."""
    if requests <= 0 or limit_per_minute <= 0:
        return 0.0
    return max(requests - limit_per_minute, 0) / limit_per_minute * 60.0
