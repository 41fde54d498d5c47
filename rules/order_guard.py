"""The last check before an order leaves: no order that sells more than is held, opens the other
side, or (an entry) is bigger than the configured notional.

The rules never decide such an order; this catches what got past them anyway (a bug, a stale
book, a forged approval), so a mistake costs a refused order and an event, not a flipped
position. Pure: the executor calls it with the book's position and a price.
"""

from __future__ import annotations

from decimal import Decimal

from position_manager.broker_types import OrderSide
from rules.exits import closing_side
from rules.model import Position


def closing_refusal(position: Position | None, side: OrderSide, qty: Decimal) -> str | None:
    """A stop, a stop resize or an exit: it must close part or all of a held position."""
    if qty <= 0:
        return f"quantity {qty} is not positive"
    if position is None:
        return "no position is held: a closing order would open one"
    if side is not closing_side(position.side):
        return f"{side.value} does not close a {position.side.value} position: it would add to it"
    if qty > position.size:
        return f"{qty} is more than the {position.size} held: it would flip the position"
    return None


def entry_refusal(
    position: Position | None,
    side: OrderSide,
    qty: Decimal,
    price: Decimal | None,
    max_notional: Decimal,
) -> str | None:
    """An entry: within the notional cap, and never through zero to the other side."""
    if qty <= 0:
        return f"quantity {qty} is not positive"
    if price is None or not price.is_finite() or price <= 0:
        return "no price to value the order at"
    notional = qty * price
    if notional > max_notional:
        return f"notional {notional:.2f} is above MAX_ORDER_NOTIONAL {max_notional}"
    if position is not None and side is closing_side(position.side) and qty > position.size:
        return f"{qty} against the {position.size} held would flip the position"
    return None
