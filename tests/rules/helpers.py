from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from position_manager.cap_class import CapClass
from rules.model import Position, Quote, Side
from rules.order_ids import make_position_key

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def D(x: object) -> Decimal:
    return Decimal(str(x))


def make_position(
    symbol: str = "AAPL",
    qty: object = 100,
    entry: object = 100,
    cap: CapClass = CapClass.LARGE,
    **changes: object,
) -> Position:
    quantity = D(qty)
    side = Side.LONG if quantity > 0 else Side.SHORT
    pos = Position(
        symbol=symbol,
        quantity=quantity,
        entry_price=D(entry),
        original_quantity=abs(quantity),
        position_key=make_position_key(symbol, side, str(entry)),
        cap_class=cap,
    )
    return pos.evolve(**changes) if changes else pos


def quote(price: object, symbol: str = "AAPL") -> Quote:
    return Quote(symbol=symbol, price=D(price), timestamp=T0)
