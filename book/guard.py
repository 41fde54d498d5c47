"""The executor's last check on each order before it leaves (`rules.order_guard`): the book's
position for closing orders, and for an entry its limit price or the broker's latest trade."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from book.orders import Action, SubmitEntry
from broker.interface import Broker
from rules.decisions import PlaceStop, ReplaceStop, SubmitExit
from rules.exits import closing_side
from rules.model import Position
from rules.order_guard import closing_refusal, entry_refusal


class OrderRefusedError(Exception):
    """Refused before the broker: it would sell more than is held, flip or add to the wrong
    side, or (an entry) exceed MAX_ORDER_NOTIONAL. Not retried: a person must look."""


class OrderGuard:
    def __init__(self, positions: Callable[[str], Position | None], max_notional: Decimal) -> None:
        self._positions = positions
        self.max_notional = max_notional

    def check(self, broker: Broker, action: Action) -> None:
        """Raise `OrderRefusedError` for an order that must not be sent."""
        reason = self.refusal(broker, action)
        if reason is not None:
            raise OrderRefusedError(f"{action.symbol}: {reason}")

    def refusal(self, broker: Broker, action: Action) -> str | None:
        position = self._positions(action.symbol)
        if isinstance(action, PlaceStop | SubmitExit):
            return closing_refusal(position, action.side, action.qty)
        if isinstance(action, ReplaceStop):
            if position is None:
                return "no position is held: a stop would open one"
            return closing_refusal(position, closing_side(position.side), action.qty)
        if isinstance(action, SubmitEntry):
            price = action.limit_price or broker.get_latest_trade_price(action.symbol)
            return entry_refusal(position, action.side, action.qty, price, self.max_notional)
        return None  # a cancel, a price check, an order lookup: nothing is bought or sold
