"""Per-symbol risk parameters published to Redis by the pipeline (`RISK_PARAMS_KEY` hashes).

The worker needs three things from them: the ATR (for the initial stop), the cap class (which
clamps and trail apply) and the next report date (pre-earnings reduction). A missing or partly
broken hash falls back to "no ATR, large cap, no report date": the rules then use the fixed
fallback stop, which is safe, rather than leaving the position unprotected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from position_manager.events import RISK_PARAMS_KEY
from rules.model import CapClass


@dataclass(frozen=True, slots=True)
class RiskParams:
    symbol: str
    atr: Decimal | None = None
    cap_class: CapClass = CapClass.LARGE
    next_report_date: date | None = None
    found: bool = False


def parse_risk_params(symbol: str, raw: Mapping[Any, Any]) -> RiskParams:
    h = {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }
    if not h:
        return RiskParams(symbol)
    atr: Decimal | None
    try:
        atr = Decimal(h["atr"]) if h.get("atr") else None
    except InvalidOperation:
        atr = None
    if atr is not None and (not atr.is_finite() or atr <= 0):
        atr = None
    try:
        cap_class = CapClass(h.get("cap_class", "large").lower())
    except ValueError:
        cap_class = CapClass.LARGE
    report: date | None
    try:
        report = (
            date.fromisoformat(h["next_report_date"][:10]) if h.get("next_report_date") else None
        )
    except ValueError:
        report = None
    return RiskParams(symbol, atr, cap_class, report, found=True)


def load_risk_params(client: Any, symbols: Iterable[str]) -> dict[str, RiskParams]:
    """One pipelined round trip for every symbol."""
    names = list(symbols)
    if not names:
        return {}
    pipe = client.pipeline(transaction=False)
    for symbol in names:
        pipe.hgetall(RISK_PARAMS_KEY.format(symbol=symbol))
    return {s: parse_risk_params(s, raw) for s, raw in zip(names, pipe.execute(), strict=True)}
