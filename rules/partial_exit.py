"""A partial or full exit, with the stop made to fit first.

Alpaca reserves shares held by open sell orders, the stop included: selling beyond the
unreserved quantity is refused (403, 40310000). So a partial exit first shrinks the stop to what
will remain (replace, never cancel: the rest stays protected), and a full exit cancels the stop
first. Selling first would fail at Alpaca (the stop holds the shares) and would leave a stop
that flips the position when hit.
"""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import CancelOrder, Decision, ExitReason
from rules.exits import build_exit
from rules.model import Position
from rules.params import RuleParams
from rules.quantities import stop_quantity
from rules.session_policy import ExitStyle
from rules.stop_orders import replace_stop


def exit_with_stop_fitted(
    position: Position,
    qty: Decimal,
    price: Decimal,
    style: ExitStyle,
    reason: ExitReason,
    client_order_id: str,
    params: RuleParams,
) -> list[Decision]:
    qty = min(qty, position.coverable_size)  # shares a working exit holds cannot be sold again
    if qty <= 0:
        return []
    remaining = position.coverable_size - qty
    decisions: list[Decision] = []
    if position.stop_order_id is not None:
        covered = position.stop_quantity if position.stop_quantity is not None else None
        keep = stop_quantity(remaining)
        if keep == 0:
            decisions.append(
                CancelOrder(position.symbol, position.stop_order_id, f"{reason}: exit")
            )
        elif covered is None or covered > keep:
            stop_price = position.stop_price
            if stop_price is None:
                decisions.append(
                    CancelOrder(position.symbol, position.stop_order_id, "stop price unknown")
                )
            else:
                decisions.append(
                    replace_stop(
                        position.symbol,
                        position.position_key,
                        position.stop_order_id,
                        keep,
                        stop_price,
                        stop_price,
                        "shrink",
                    )
                )
    decisions.append(
        build_exit(
            position,
            qty,
            price,
            style,
            reason,
            client_order_id,
            params.extended_hours_limit_offset,
        )
    )
    return decisions
