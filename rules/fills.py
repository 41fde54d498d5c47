"""Fill accounting: what one fill does to a position's size, average entry and realized P&L.

Pure arithmetic over signed quantities (negative = short), shared by the position service (which
applies fills to the book) and anything that replays fills. The broker's position quantity after
the fill is the truth for the new size, so applying the same fill twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from position_manager.broker_types import OrderSide
from rules.model import Side
from rules.pnl import realized_pnl


class FillKind(StrEnum):
    NONE = "none"  # the size did not move: already applied
    OPEN = "open"  # from flat
    GROW = "grow"  # same side, larger
    REDUCE = "reduce"  # same side, smaller, not flat
    CLOSE = "close"  # to flat
    FLIP = "flip"  # through zero: the old position closes, a new one opens on the other side


def side_sign(side: OrderSide) -> int:
    return 1 if side is OrderSide.BUY else -1


def quantity_after_fill(
    current: Decimal, side: OrderSide, filled_qty: Decimal, position_qty: Decimal | None
) -> Decimal:
    """The broker's `position_qty` when it sent one, else the size moved by the filled shares."""
    if position_qty is not None:
        return position_qty
    return current + side_sign(side) * filled_qty


def fill_kind(old_qty: Decimal, new_qty: Decimal) -> FillKind:
    if new_qty == old_qty:
        return FillKind.NONE
    if old_qty == 0:
        return FillKind.OPEN
    if new_qty == 0:
        return FillKind.CLOSE
    if (old_qty > 0) != (new_qty > 0):
        return FillKind.FLIP
    return FillKind.GROW if abs(new_qty) > abs(old_qty) else FillKind.REDUCE


@dataclass(frozen=True, slots=True)
class Growth:
    added: Decimal  # shares added (magnitude)
    entry_price: Decimal  # the new average entry


def grow(entry_price: Decimal, old_qty: Decimal, new_qty: Decimal, price: Decimal) -> Growth:
    """The average entry after adding shares at `price`, weighted by size."""
    added = abs(new_qty) - abs(old_qty)
    return Growth(added, (entry_price * abs(old_qty) + price * added) / abs(new_qty))


@dataclass(frozen=True, slots=True)
class Reduction:
    closed_qty: Decimal  # shares closed (magnitude)
    realized: Decimal  # P&L of those shares, in dollars


def reduce(
    entry_price: Decimal, long: bool, old_qty: Decimal, new_qty: Decimal, price: Decimal
) -> Reduction:
    """Shares closed from `old_qty` down to `new_qty` (0 for a close or the closing leg of a
    flip) at `price`, and what they realized."""
    closed = abs(old_qty) - abs(new_qty)
    return Reduction(closed, realized_pnl(entry_price, price, closed, long=long))


def stop_slippage(side: Side, stop_price: Decimal, fill_price: Decimal) -> Decimal:
    """Per share, how much worse than its stop price a stop filled (negative: better): a long's
    sell stop below it, a short's buy stop above it. A gap through the stop at the open is the
    risk a resting stop cannot remove; the history keeps it per fill (`stop_gaps`)."""
    return stop_price - fill_price if side is Side.LONG else fill_price - stop_price
