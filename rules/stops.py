"""Initial stop and target from ATR, clamped per cap class, mirrored for shorts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from position_manager.cap_class import CapClass
from rules.model import Side
from rules.params import RuleParams
from rules.ticks import check_price, round_down_to_tick, round_to_tick, round_up_to_tick


@dataclass(frozen=True, slots=True)
class StopPlan:
    stop_pct: Decimal
    target_pct: Decimal
    stop_price: Decimal
    target_price: Decimal | None  # None when a short's target would be at or below zero
    method: Literal["atr", "fallback"]


def stop_and_target_pct(
    entry_price: Decimal, cap_class: CapClass, atr: Decimal | None, params: RuleParams
) -> tuple[Decimal, Decimal, Literal["atr", "fallback"]]:
    """Stop distance and target distance as fractions of the entry price.

    Micro-cap: clamp(2 x ATR / entry, 15%, 24%), target 3:1; large-cap: clamp(1.5 x ATR / entry,
    8%, 15%), target 2:1. No usable ATR (missing, NaN, non-positive) -> the fixed fallback.
    """
    check_price(entry_price, "entry price")
    p = params.for_class(cap_class)
    if atr is None or not atr.is_finite() or atr <= 0:
        return p.fallback_stop_pct, p.fallback_target_pct, "fallback"
    raw = p.atr_multiplier * atr / entry_price
    stop_pct = min(p.stop_max_pct, max(p.stop_min_pct, raw))
    return stop_pct, stop_pct * p.reward_risk, "atr"


def stop_and_target(
    entry_price: Decimal,
    side: Side,
    cap_class: CapClass,
    atr: Decimal | None,
    params: RuleParams,
) -> StopPlan:
    """Prices on the tick: a long's stop below entry and target above; a short's mirrored.

    The stop rounds toward the tighter side (a long's up, a short's down), so the tick never
    carries it past the clamp: a short at $1.30 with a 15 % cap gets $1.49, not $1.50 (15.38 %).
    """
    stop_pct, target_pct, method = stop_and_target_pct(entry_price, cap_class, atr, params)
    if side is Side.LONG:
        stop = round_up_to_tick(entry_price * (1 - stop_pct))
        target: Decimal | None = round_to_tick(entry_price * (1 + target_pct))
    else:
        stop = round_down_to_tick(entry_price * (1 + stop_pct))
        raw_target = entry_price * (1 - target_pct)
        target = round_to_tick(raw_target) if raw_target > 0 else None
    return StopPlan(stop_pct, target_pct, stop, target, method)


def stop_is_on_losing_side(side: Side, entry_price: Decimal, stop_price: Decimal) -> bool:
    return stop_price < entry_price if side is Side.LONG else stop_price > entry_price
