"""Re-planning a fallback stop once a real ATR is known: tighten to the ATR plan, never loosen.

A stop placed without a usable ATR (no risk parameters yet, too few bars) sits at the fixed
fallback distance (12 % large cap, 20 % micro). When the ATR arrives, the initial stop is planned
again from it and the live stop is replaced with the plan's level if, and only if, that is
tighter: higher for a long, lower for a short. A looser plan is never applied: the fallback stop
is then the tighter one and stays (its basis stays "fallback", which is the truth).
"""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import ReplaceStop
from rules.model import Position, Side
from rules.params import RuleParams
from rules.quantities import stop_quantity
from rules.stop_orders import replace_stop
from rules.stops import stop_and_target


def atr_replan(
    position: Position, atr: Decimal | None, price: Decimal | None, params: RuleParams
) -> ReplaceStop | None:
    """The replace that moves a fallback stop to the ATR plan's level, or None.

    None unless: the live stop's basis is "fallback", the ATR is usable, the plan's stop is
    tighter than the live one, and the market (`price`, the last known) has not already crossed
    it (Alpaca refuses a sell stop at or above the price; a known price is required). The quantity
    is the live stop's. Whether the stop can be replaced now (landing, busy) is the engine's.
    """
    if position.stop_basis != "fallback" or price is None:
        return None
    if position.stop_order_id is None or position.stop_price is None:
        return None
    if atr is None or not atr.is_finite() or atr <= 0:
        return None
    plan = stop_and_target(position.entry_price, position.side, position.cap_class, atr, params)
    if plan.method != "atr":
        return None
    current, planned = position.stop_price, plan.stop_price
    if position.side is Side.LONG:
        tighter, valid = planned > current, planned < price
    else:
        tighter, valid = planned < current, planned > price
    if not (tighter and valid):
        return None
    qty = position.stop_quantity or stop_quantity(position.coverable_size)
    if qty <= 0:
        return None
    return replace_stop(
        position.symbol,
        position.position_key,
        position.stop_order_id,
        qty,
        planned,
        current,
        "replan",
    )
