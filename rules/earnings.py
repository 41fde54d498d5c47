"""Pre-earnings reduction: within PRE_EARNINGS_DAYS before a report, halve once per report date.

The position remembers the report date it was reduced for (not a bool that never resets), so
next quarter's report reduces again and the same report never reduces twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rules.decisions import Decision
from rules.model import Position
from rules.order_ids import earnings_order_id
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.quantities import portion
from rules.session_policy import ExitStyle


def days_until_report(today: date, report_date: date) -> int:
    return (report_date - today).days


def in_pre_earnings_window(today: date, report_date: date, params: RuleParams) -> bool:
    return 0 <= days_until_report(today, report_date) <= params.pre_earnings_days


def needs_earnings_reduction(
    position: Position, today: date, report_date: date | None, params: RuleParams
) -> bool:
    return (
        report_date is not None
        and in_pre_earnings_window(today, report_date, params)
        and position.earnings_reduced_for != report_date
    )


def earnings_reduction_qty(position: Position, params: RuleParams) -> Decimal:
    """Half the position; or, after an exit for this date sold part and died, the rest of it."""
    if position.earnings_unsold is not None:
        return min(position.earnings_unsold, position.size)
    return portion(position.size, params.pre_earnings_reduction)


def earnings_reduction_decisions(
    position: Position,
    today: date,
    report_date: date | None,
    price: Decimal,
    style: ExitStyle,
    params: RuleParams,
) -> list[Decision]:
    """Empty when outside the window, already reduced for this date, or nothing to sell (one
    share: half rounds down to zero — the caller marks the date as handled)."""
    if report_date is None or not needs_earnings_reduction(position, today, report_date, params):
        return []
    qty = earnings_reduction_qty(position, params)
    if qty <= 0:
        return []
    return exit_with_stop_fitted(
        position,
        qty,
        price,
        style,
        "pre_earnings",
        earnings_order_id(position.position_key, report_date, position.exit_generation),
        params,
    )
