"""Portfolio-level limits that act on open positions: a daily loss limit and a maximum drawdown.

Per-position stops do not see the account: ten positions each 7 % under water are inside every
stop and still a bad day. When the account's equity is down more than `daily_loss_pct` from the
previous close (Alpaca's `last_equity`: equity at 16:00 ET of the previous trading day), or more
than `max_drawdown_pct` from its highest equity seen, the worker acts on every position: it
tightens each stop to `tighten_pct` from the last price (never loosening one), or flattens the
book, per `action`. Pure: the worker reads the account and the peak, these functions decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from rules.model import Position, Side
from rules.ticks import round_down_to_tick, round_up_to_tick

LimitAction = Literal["tighten", "flatten"]
LimitKind = Literal["daily_loss", "drawdown"]


@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    daily_loss_pct: Decimal | None = None  # e.g. 0.03: 3 % under the previous close
    max_drawdown_pct: Decimal | None = None  # e.g. 0.10: 10 % under the highest equity seen
    action: LimitAction = "tighten"
    tighten_pct: Decimal = Decimal("0.02")  # the stop moved to 2 % from the last price

    @property
    def enabled(self) -> bool:
        return self.daily_loss_pct is not None or self.max_drawdown_pct is not None


@dataclass(frozen=True, slots=True)
class LimitBreach:
    kind: LimitKind
    equity: Decimal
    reference: Decimal  # the previous close's equity, or the peak
    loss_pct: Decimal  # how far under the reference, as a fraction
    limit_pct: Decimal

    @property
    def message(self) -> str:
        what = "the previous close" if self.kind == "daily_loss" else "the peak"
        return (
            f"equity {self.equity:.2f} is {self.loss_pct:.2%} under {what} "
            f"({self.reference:.2f}); the limit is {self.limit_pct:.2%}"
        )


def _loss(equity: Decimal, reference: Decimal | None) -> Decimal | None:
    if reference is None or reference <= 0:
        return None
    return (reference - equity) / reference


def find_breach(
    limits: PortfolioLimits,
    equity: Decimal,
    last_equity: Decimal | None,
    peak: Decimal | None,
) -> LimitBreach | None:
    """The first limit crossed (the daily loss before the drawdown), or None."""
    daily = _loss(equity, last_equity)
    if limits.daily_loss_pct is not None and daily is not None and daily >= limits.daily_loss_pct:
        assert last_equity is not None
        return LimitBreach("daily_loss", equity, last_equity, daily, limits.daily_loss_pct)
    drawdown = _loss(equity, peak)
    if (
        limits.max_drawdown_pct is not None
        and drawdown is not None
        and drawdown >= limits.max_drawdown_pct
    ):
        assert peak is not None
        return LimitBreach("drawdown", equity, peak, drawdown, limits.max_drawdown_pct)
    return None


def new_peak(peak: Decimal | None, equity: Decimal) -> Decimal:
    return equity if peak is None or equity > peak else peak


def tightened_stop(position: Position, price: Decimal, tighten_pct: Decimal) -> Decimal | None:
    """The stop `tighten_pct` from `price`, rounded to the tick toward the tighter side (up for a
    long's sell stop, down for a short's buy stop); None when it would not be tighter than the
    stop the position has (a limit never loosens a stop) or the position has none."""
    current = position.stop_price
    if current is None or price <= 0:
        return None
    if position.side is Side.LONG:
        target = round_up_to_tick(price * (1 - tighten_pct))
        return target if current < target < price else None
    target = round_down_to_tick(price * (1 + tighten_pct))
    return target if price < target < current else None
