"""Unrealized P&L for longs and shorts, flagged when priced in extended hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from position_manager.session import Session
from rules.model import Position
from rules.ticks import check_price


@dataclass(frozen=True, slots=True)
class Pnl:
    unrealized: Decimal  # dollars
    unrealized_pct: Decimal  # fraction of cost: 0.2 is +20 %
    extended_hours: bool


def unrealized_pnl(position: Position, price: Decimal, session: Session) -> Pnl:
    check_price(price, f"{position.symbol} price")
    # copy_abs on zero: a flat short should read 0.00, not -0.00.
    per_share = (price - position.entry_price) * position.side.sign
    if per_share == 0:
        per_share = per_share.copy_abs()
    dollars = per_share * position.size
    pct = per_share / position.entry_price
    return Pnl(dollars, pct, session in (Session.PRE, Session.POST))


def gain_pct(position: Position, price: Decimal) -> Decimal:
    """Move in the position's favour since entry, as a fraction (negative when losing)."""
    return (price - position.entry_price) * position.side.sign / position.entry_price
