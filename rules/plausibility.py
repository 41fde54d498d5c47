"""Whether a quote is believable enough to trade on.

Whoever can write to the quote stream can move the worker: one forged quote (AAPL at 1e30, a short
at 0.0001) would otherwise sell a position in full. A quote that moves the price further from the
last known one than `quote_confirm_move` in one step is first confirmed against the broker's own
latest trade; it is acted on only if the broker's price is within `quote_confirm_tolerance` of it,
and then at the broker's price. Ordinary quotes cost nothing: the check is two multiplications.
"""

from __future__ import annotations

from decimal import Decimal


def needs_confirmation(last_known: Decimal | None, price: Decimal, max_move: Decimal) -> bool:
    """A move larger than `max_move` (a fraction) from the last known price, either way."""
    if last_known is None or last_known <= 0:
        return False
    return abs(price - last_known) > last_known * max_move


def confirmed_by(quoted: Decimal, broker_price: Decimal | None, tolerance: Decimal) -> bool:
    """The broker's latest trade agrees with the quote (within `tolerance`, a fraction)."""
    if broker_price is None or broker_price <= 0:
        return False
    return abs(broker_price - quoted) <= broker_price * tolerance
