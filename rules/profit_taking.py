"""Profit-taking: half of the original quantity at +PROFIT_TARGET_1, the rest at +PROFIT_TARGET_2.

Level 1 brings the position down to half of what was bought: a full position sells half, while
one already halved before earnings sells nothing and keeps its remainder for level 2 (selling
"half of the original" again would close it at +20 %). Each level fires once per position (the
flags live on the position and are set when the exit order is accepted); a gap straight past
both levels goes to the full exit at once.
"""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import Decision
from rules.model import Position
from rules.order_ids import profit_order_id
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.pnl import gain_pct
from rules.quantities import portion
from rules.session_policy import ExitStyle

HALF = Decimal("0.5")


def profit_taking_decisions(
    position: Position, price: Decimal, style: ExitStyle, params: RuleParams
) -> list[Decision]:
    gain = gain_pct(position, price)
    taken = position.profit_levels_taken
    if gain >= params.profit_target_2 and 2 not in taken:
        return exit_with_stop_fitted(
            position,
            position.size,
            price,
            style,
            "profit_target_2",
            profit_order_id(position.position_key, 2, position.exit_generation),
            params,
        )
    if gain >= params.profit_target_1 and 1 not in taken and 2 not in taken:
        keep = position.original_quantity - portion(position.original_quantity, HALF)
        qty = position.size - keep
        if qty <= 0:
            return []
        return exit_with_stop_fitted(
            position,
            qty,
            price,
            style,
            "profit_target_1",
            profit_order_id(position.position_key, 1, position.exit_generation),
            params,
        )
    return []


def level_of(reason: str) -> frozenset[int]:
    """Profit levels an accepted exit marks as taken (a full exit marks both)."""
    return {"profit_target_1": frozenset({1}), "profit_target_2": frozenset({1, 2})}.get(
        reason, frozenset()
    )
