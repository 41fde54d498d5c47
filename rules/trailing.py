"""Trailing stops: follow the best price since entry, only ever tighten."""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import ReplaceStop
from rules.model import Position, Side
from rules.params import RuleParams
from rules.quantities import stop_quantity
from rules.stop_orders import replace_stop
from rules.ticks import round_down_to_tick, round_up_to_tick


def update_best_price(position: Position, price: Decimal) -> Decimal:
    """High-water mark for a long, low-water mark for a short."""
    best = position.best_price
    if best is None:
        return price
    return max(best, price) if position.side is Side.LONG else min(best, price)


def trailing_stop_candidate(position: Position, params: RuleParams) -> Decimal | None:
    """Where the trail puts the stop, or None while the position has never been in profit.

    A long trails `trail_pct` below its high-water mark (rounded down to the tick, so never
    tighter than the trail), a short `trail_pct` above its low-water mark (rounded up).
    """
    best = position.best_price
    if best is None:
        return None
    trail = params.for_class(position.cap_class).trail_pct
    if position.side is Side.LONG:
        return round_down_to_tick(best * (1 - trail)) if best > position.entry_price else None
    return round_up_to_tick(best * (1 + trail)) if best < position.entry_price else None


def min_stop_move(stop_price: Decimal, params: RuleParams) -> Decimal:
    """The least a trailing stop may move: MIN_STOP_ADJUSTMENT dollars or
    MIN_STOP_ADJUSTMENT_PCT of the stop, whichever is smaller. Dollars alone stall cheap
    stocks: ten cents is 11 % of a $0.88 stock's stop, more than its 9 % trail ever tightens by
    in one step, so it trailed once and never again."""
    return min(params.min_stop_adjustment, stop_price * params.min_stop_adjustment_pct)


def propose_trailing_stop(
    position: Position, price: Decimal, params: RuleParams
) -> ReplaceStop | None:
    """A replace of the live stop when the trail tightens it by at least `min_stop_move` (the
    smaller of MIN_STOP_ADJUSTMENT dollars and MIN_STOP_ADJUSTMENT_PCT of the stop), and only
    to a level the market has not already crossed (Alpaca refuses a sell stop at or above the
    price). Session gating is the caller's (see session_policy)."""
    if position.stop_order_id is None or position.stop_price is None:
        return None
    candidate = trailing_stop_candidate(position, params)
    if candidate is None:
        return None
    current = position.stop_price
    if position.side is Side.LONG:
        tightens_by = candidate - current
        valid = candidate < price
    else:
        tightens_by = current - candidate
        valid = candidate > price
    if tightens_by <= 0 or tightens_by < min_stop_move(current, params) or not valid:
        return None
    qty = position.stop_quantity or stop_quantity(position.coverable_size)
    return replace_stop(
        position.symbol,
        position.position_key,
        position.stop_order_id,
        qty,
        candidate,
        current,
        "trail",
    )
