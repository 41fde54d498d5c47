"""Alert conditions: large loss, unprotected position, stale data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from position_manager import events
from rules.model import Position
from rules.params import RuleParams
from rules.pnl import gain_pct
from rules.quantities import stop_quantity


@dataclass(frozen=True, slots=True)
class Alert:
    name: str  # an alert.* event name
    symbol: str | None
    message: str


def large_loss_alert(position: Position, price: Decimal, params: RuleParams) -> Alert | None:
    loss = gain_pct(position, price)
    if loss > params.large_loss_alert_pct:
        return None
    return Alert(
        events.ALERT_LARGE_LOSS,
        position.symbol,
        f"{position.symbol} is {loss * 100:.1f}% from entry "
        f"(alert at {params.large_loss_alert_pct * 100:.0f}%)",
    )


def unprotected_alert(position: Position) -> Alert | None:
    """Any share neither covered by the live stop nor held by a working exit. A GTC stop covers
    whole shares only, so a fractional remainder is reported too, never a silent check mark."""
    covered = position.stop_quantity or Decimal(0) if position.is_protected else Decimal(0)
    uncovered = position.coverable_size - covered
    if uncovered <= 0:
        return None
    if covered == 0 and stop_quantity(position.coverable_size) > 0:
        message = f"{position.symbol} ({position.quantity} shares) has no stop order"
    else:
        message = (
            f"{position.symbol}: {uncovered} of {position.size} shares have no stop (a GTC stop "
            "covers whole shares only); they exit with DAY orders on a breach or a profit level"
        )
    return Alert(events.ALERT_UNPROTECTED, position.symbol, message)


def stale_data_alert(
    last_update: datetime | None, now: datetime, params: RuleParams
) -> Alert | None:
    """By total seconds: a timedelta's `.seconds` wraps at a day and would miss a stale weekend."""
    if last_update is None:
        return None
    age = (now - last_update).total_seconds()
    if age <= params.stale_data_seconds:
        return None
    return Alert(
        events.ALERT_STALE_DATA,
        None,
        f"no price update for {age:.0f}s (limit {params.stale_data_seconds}s)",
    )


def book_alerts(
    positions: list[Position],
    prices: dict[str, Decimal],
    last_update: datetime | None,
    now: datetime,
    params: RuleParams,
) -> list[Alert]:
    alerts = [a for p in positions if (a := unprotected_alert(p))]
    alerts += [
        a
        for p in positions
        if p.symbol in prices and (a := large_loss_alert(p, prices[p.symbol], params))
    ]
    stale = stale_data_alert(last_update, now, params)
    return [*alerts, stale] if stale else alerts
