"""P&L for longs and shorts: the one place that knows the sign rule (a short gains when the price
falls below its entry). Unrealized P&L is flagged when priced in extended hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from position_manager.session import Session
from rules.model import Position, Side
from rules.ticks import check_price


@dataclass(frozen=True, slots=True)
class Pnl:
    unrealized: Decimal  # dollars
    unrealized_pct: Decimal  # fraction of cost: 0.2 is +20 %
    extended_hours: bool


def pnl_per_share(entry_price: Decimal, price: Decimal, *, long: bool) -> Decimal:
    """What one share gained at `price`: price - entry for a long, entry - price for a short."""
    return price - entry_price if long else entry_price - price


def realized_pnl(
    entry_price: Decimal, exit_price: Decimal, shares: Decimal, *, long: bool
) -> Decimal:
    """Dollars realized by closing `shares` (a magnitude) at `exit_price`."""
    return pnl_per_share(entry_price, exit_price, long=long) * shares


def unrealized_pnl(position: Position, price: Decimal, session: Session) -> Pnl:
    check_price(price, f"{position.symbol} price")
    # copy_abs on zero: a flat short should read 0.00, not -0.00.
    per_share = pnl_per_share(position.entry_price, price, long=position.side is Side.LONG)
    if per_share == 0:
        per_share = per_share.copy_abs()
    dollars = per_share * position.size
    pct = per_share / position.entry_price
    return Pnl(dollars, pct, session in (Session.PRE, Session.POST))


def gain_pct(position: Position, price: Decimal) -> Decimal:
    """Move in the position's favour since entry, as a fraction (negative when losing)."""
    long = position.side is Side.LONG
    return pnl_per_share(position.entry_price, price, long=long) / position.entry_price
