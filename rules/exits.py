"""Turning "sell N shares now" into an order the session allows."""

from __future__ import annotations

from decimal import Decimal

from position_manager.broker_types import OrderSide, TimeInForce
from rules.decisions import ExitReason, SubmitExit
from rules.model import Position, Side
from rules.session_policy import ExitStyle
from rules.ticks import round_down_to_tick, round_up_to_tick


def closing_side(side: Side) -> OrderSide:
    """Sell to close a long, buy to cover a short."""
    return OrderSide.SELL if side is Side.LONG else OrderSide.BUY


def build_exit(
    position: Position,
    qty: Decimal,
    price: Decimal,
    style: ExitStyle,
    reason: ExitReason,
    client_order_id: str,
    limit_offset: Decimal,
) -> SubmitExit:
    """Market in the regular session; otherwise a DAY limit with extended hours, `limit_offset`
    through the last price (below it to sell, above it to cover) so it fills like a market order
    would without chasing an empty book."""
    qty = min(qty, position.size)
    side = closing_side(position.side)
    if style is ExitStyle.MARKET:
        return SubmitExit(
            position.symbol,
            side,
            qty,
            "market",
            None,
            False,
            TimeInForce.DAY,
            client_order_id,
            reason,
        )
    if side is OrderSide.SELL:
        limit = round_down_to_tick(price * (1 - limit_offset))
    else:
        limit = round_up_to_tick(price * (1 + limit_offset))
    return SubmitExit(
        position.symbol, side, qty, "limit", limit, True, TimeInForce.DAY, client_order_id, reason
    )
