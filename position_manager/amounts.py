"""Prices and quantities read from events: plain ASCII decimals, finite, within sane bounds.

`Decimal()` is far kinder than a trading system can afford: it reads ``"1e999"`` (a finite
Decimal, so a quote's `last` of 1e999 once looked like +50 % and sold a position), ``"١٢"``
(Arabic-Indic digits: a trade approval bought 12 shares), ``" 12 "``, ``"1_000"``, ``"NaN"`` and
``"Infinity"``. Alpaca sends prices and quantities as decimal strings (``"187.25"``,
``"0.5"``), so an event's number must look like one:

- text: an optional ``-`` (signed fields only), 1 to `MAX_INTEGER_DIGITS` ASCII digits, and
  optionally ``.`` with 1 to `MAX_FRACTION_DIGITS` digits. No exponent, sign ``+``, blanks,
  underscores, other scripts' digits, NaN or Infinity.
- a JSON number is accepted too (a producer that sends ``187.25`` unquoted); it is read through
  its shortest text (`repr`), which must pass the same rule: ``1e-05`` does not.
- bounds: a price is above 0 and at most `MAX_PRICE`; a quantity at most `MAX_QUANTITY` shares
  (positive, non-negative or signed, as the field needs).

Everything else raises `InvalidEventError` naming the field, so the message is dead-lettered.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final

from position_manager.errors import InvalidEventError
from position_manager.wire import quoted

# Ten times the most expensive US share (BRK.A, about $700,000): a price above it is garbage.
MAX_PRICE: Final = Decimal("10000000")
# One billion shares: more than any account holds of one symbol.
MAX_QUANTITY: Final = Decimal("1000000000")
MAX_INTEGER_DIGITS: Final = 16
MAX_FRACTION_DIGITS: Final = 9  # Alpaca's fractional quantities carry 9 decimals

_PLAIN: Final = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,9})?", re.ASCII)
_NOT_FINITE: Final = frozenset({"nan", "snan", "inf", "infinity"})


def plain_decimal(value: Any, name: str) -> Decimal:
    """`value` (a JSON string or number) as a Decimal, or `InvalidEventError`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEventError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(f"{name} is not finite: {value!r}")
        text = repr(value)
    elif isinstance(value, int):
        if value.bit_length() > 64:  # str() of a huge int is itself refused past 4,300 digits
            raise InvalidEventError(f"{name} is out of range: {value.bit_length()} bits")
        text = str(value)
    else:
        text = value
    if len(text) > MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS + 2 or not _PLAIN.fullmatch(text):
        if text.strip().lstrip("+-").lower() in _NOT_FINITE:
            raise InvalidEventError(f"{name} is not finite: {quoted(text)}")
        raise InvalidEventError(
            f"{name} is not a plain decimal number (ASCII digits, no exponent): {quoted(text)}"
        )
    return Decimal(text)


def price(value: Any, name: str) -> Decimal:
    """A price: above 0, at most `MAX_PRICE`."""
    result = plain_decimal(value, name)
    if result <= 0:
        raise InvalidEventError(f"{name} must be positive, got {quoted(value)}")
    if result > MAX_PRICE:
        raise InvalidEventError(f"{name} {result} is above the ceiling of {MAX_PRICE}")
    return result


def quantity(value: Any, name: str, *, allow_zero: bool = False, signed: bool = False) -> Decimal:
    """A share quantity: at most `MAX_QUANTITY` in size; positive unless `allow_zero` (then
    non-negative) or `signed` (a position: negative is short)."""
    result = plain_decimal(value, name)
    if abs(result) > MAX_QUANTITY:
        raise InvalidEventError(f"{name} {result} is above the limit of {MAX_QUANTITY} shares")
    if signed:
        return result
    if result < 0 or (result == 0 and not allow_zero):
        raise InvalidEventError(
            f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {quoted(value)}"
        )
    return result
