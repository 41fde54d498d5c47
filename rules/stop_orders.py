"""Replacing the live stop: one way to build it, for trailing, shrinking and reconciliation."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from rules.decisions import ReplaceStop
from rules.order_ids import replace_order_id


def replace_stop(
    symbol: str,
    position_key: str,
    order_id: str,
    qty: Decimal,
    stop_price: Decimal,
    previous_stop_price: Decimal | None,
    reason: Literal["trail", "shrink", "restore", "replan", "tighten"],
) -> ReplaceStop:
    """A PATCH of `order_id` to (qty, stop_price) with its deterministic client order id."""
    return ReplaceStop(
        symbol=symbol,
        order_id=order_id,
        qty=qty,
        stop_price=stop_price,
        previous_stop_price=previous_stop_price,
        client_order_id=replace_order_id(position_key, order_id, qty, stop_price),
        reason=reason,
    )
