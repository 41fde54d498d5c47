"""Price ticks: Alpaca rejects sub-penny prices at or above $1 (422, code 42210000)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from position_manager.errors import RuleInputError

PENNY = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
ONE = Decimal(1)


def tick_size(price: Decimal) -> Decimal:
    """$0.01 at or above $1, $0.0001 below."""
    return PENNY if price >= ONE else SUB_PENNY


def round_to_tick(price: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round a price to its tick. `rounding` lets stops round toward the safe side."""
    check_price(price, "price")
    rounded = price.quantize(tick_size(price), rounding=rounding)
    # Rounding 0.99995 up crosses $1: re-quantize on the coarser tick.
    return rounded.quantize(tick_size(rounded), rounding=rounding)


def round_down_to_tick(price: Decimal) -> Decimal:
    return round_to_tick(price, ROUND_FLOOR)


def round_up_to_tick(price: Decimal) -> Decimal:
    return round_to_tick(price, ROUND_CEILING)


def check_price(price: Decimal, name: str = "price") -> Decimal:
    """Reject NaN, infinities, zero and negative prices with a clear error."""
    if not isinstance(price, Decimal):
        raise RuleInputError(f"{name} must be a Decimal, got {type(price).__name__}")
    if not price.is_finite() or price <= 0:
        raise RuleInputError(f"{name} must be a positive finite number, got {price}")
    return price


def to_decimal(value: object, name: str = "value") -> Decimal:
    """Parse a broker string / JSON number into a finite Decimal (floats via repr, not binary)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or value is None:
        raise RuleInputError(f"{name} must be a number, got {value!r}")
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except ArithmeticError:
            raise RuleInputError(f"{name} is not a number: {value!r}") from None
    else:
        raise RuleInputError(f"{name} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise RuleInputError(f"{name} must be finite, got {value!r}")
    return result
