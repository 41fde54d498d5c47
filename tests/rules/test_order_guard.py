"""The last check before an order leaves: never more than held, never the other side, never an
entry above the notional cap."""

from __future__ import annotations

from decimal import Decimal

from position_manager.broker_types import OrderSide
from rules.order_guard import closing_refusal, entry_refusal
from tests.rules.helpers import make_position

D = Decimal
LONG = make_position(qty=100)
SHORT = make_position(symbol="TSLA", qty=-60)


def test_closing_orders_must_close_part_or_all_of_what_is_held() -> None:
    assert closing_refusal(LONG, OrderSide.SELL, D(100)) is None
    assert closing_refusal(SHORT, OrderSide.BUY, D(60)) is None
    assert "flip" in str(closing_refusal(LONG, OrderSide.SELL, D(101)))
    assert "add to it" in str(closing_refusal(LONG, OrderSide.BUY, D(10)))
    assert "would open one" in str(closing_refusal(None, OrderSide.SELL, D(10)))
    assert "not positive" in str(closing_refusal(LONG, OrderSide.SELL, D(0)))


def test_entries_stay_under_the_notional_cap_and_never_flip() -> None:
    cap = D(250_000)
    assert entry_refusal(None, OrderSide.BUY, D(100), D(100), cap) is None
    assert "MAX_ORDER_NOTIONAL" in str(entry_refusal(None, OrderSide.BUY, D(10_000), D(100), cap))
    assert entry_refusal(LONG, OrderSide.SELL, D(50), D(100), cap) is None  # reduces
    assert "flip" in str(entry_refusal(LONG, OrderSide.SELL, D(150), D(100), cap))
    assert "no price" in str(entry_refusal(None, OrderSide.BUY, D(10), None, cap))
