"""Each symbol's stop, target and trail distances, and the Redis hash the worker reads.

The maths is the rules' (`rules.stops.stop_and_target_pct`): this module only gathers the inputs
(ATR, cap class, a reference price) and formats the result. The reference price is the position's
average entry price when held (stops are sized against the entry), else the last close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from position_manager.cap_class import CapClass
from position_manager.redis_schema import encode_risk_hash
from rules.params import RuleParams
from rules.stops import stop_and_target_pct

_PCT = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class RiskInputs:
    symbol: str
    cap_class: str
    market_cap: float | None
    profile_source: str
    avg_entry_price: float | None
    last_close: float | None
    atr: float | None
    atr_pct: float | None
    atr_reason: str | None
    next_report_date: date | None


@dataclass(frozen=True, slots=True)
class RiskParameters:
    symbol: str
    cap_class: str
    atr: float | None
    atr_period: int
    atr_method: str
    atr_pct: float | None
    atr_reason: str | None
    reference_price: float | None
    stop_pct: Decimal
    target_pct: Decimal
    trail_pct: Decimal
    stop_method: str  # "atr" | "fallback"
    next_report_date: date | None
    market_cap: float | None
    profile_source: str
    as_of: datetime


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def risk_parameters_for(
    inputs: RiskInputs, params: RuleParams, *, atr_period: int, atr_method: str, as_of: datetime
) -> RiskParameters:
    """Stop/target/trail for one symbol; no usable ATR or price -> the rules' fixed fallback."""
    cap = CapClass(inputs.cap_class)
    reference = inputs.avg_entry_price if _usable(inputs.avg_entry_price) else inputs.last_close
    atr = inputs.atr if _usable(inputs.atr) else None
    reason = inputs.atr_reason if atr is None else None
    if atr is None and reason is None:
        reason = "no ATR"
    if _usable(reference):
        assert reference is not None
        stop_pct, target_pct, method = stop_and_target_pct(
            Decimal(str(reference)), cap, Decimal(str(atr)) if atr is not None else None, params
        )
    else:
        # No price at all (not held, no bars): only the fixed fallback is possible.
        fallback = params.for_class(cap)
        stop_pct, target_pct, method = (
            fallback.fallback_stop_pct,
            fallback.fallback_target_pct,
            "fallback",
        )
        reference = None
    return RiskParameters(
        symbol=inputs.symbol,
        cap_class=cap.value,
        atr=atr,
        atr_period=atr_period,
        atr_method=atr_method,
        atr_pct=inputs.atr_pct if atr is not None else None,
        atr_reason=reason,
        reference_price=reference,
        stop_pct=stop_pct.quantize(_PCT),
        target_pct=target_pct.quantize(_PCT),
        trail_pct=params.for_class(cap).trail_pct,
        stop_method=method,
        next_report_date=inputs.next_report_date,
        market_cap=inputs.market_cap,
        profile_source=inputs.profile_source,
        as_of=as_of,
    )


def redis_fields(rp: RiskParameters) -> dict[str, str]:
    """The hash at RISK_PARAMS_KEY, in the format the position service reads
    (`position_manager.redis_schema`)."""
    return encode_risk_hash(
        symbol=rp.symbol,
        cap_class=rp.cap_class,
        atr=rp.atr,
        atr_period=rp.atr_period,
        atr_method=rp.atr_method,
        atr_pct=rp.atr_pct,
        atr_reason=rp.atr_reason,
        reference_price=rp.reference_price,
        stop_pct=rp.stop_pct,
        target_pct=rp.target_pct,
        trail_pct=rp.trail_pct,
        next_report_date=rp.next_report_date,
        market_cap=rp.market_cap,
        profile_source=rp.profile_source,
        as_of=rp.as_of,
    )
