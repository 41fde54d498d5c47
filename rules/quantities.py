"""Share quantities: whole shares stay whole, fractions keep Alpaca's 9 decimal places."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from rules.model import is_whole

FRACTION_QUANTUM = Decimal("0.000000001")


def portion(size: Decimal, fraction: Decimal) -> Decimal:
    """`fraction` of `size`, rounded down: never more than asked, never more than held.

    A whole-share size gives whole shares (half of 3 is 1); a fractional size keeps fractions.
    """
    raw = size * fraction
    if is_whole(size):
        return raw.to_integral_value(rounding=ROUND_DOWN)
    return min(size, raw.quantize(FRACTION_QUANTUM, rounding=ROUND_DOWN))


def stop_quantity(size: Decimal) -> Decimal:
    """What a GTC stop can cover: whole shares only (Alpaca takes fractional orders as DAY only
    and cannot replace a fractional quantity). A remainder under one share stays unprotected and
    is reported with the stop."""
    return size.to_integral_value(rounding=ROUND_DOWN)
