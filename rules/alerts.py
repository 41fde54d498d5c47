"""Alert conditions: large loss, unprotected position, stale data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from position_manager import events
from rules.model import Position
from rules.params import RuleParams
from rules.pnl import gain_pct


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
    if position.is_protected:
        return None
    return Alert(
        events.ALERT_UNPROTECTED,
        position.symbol,
        f"{position.symbol} ({position.quantity} shares) has no stop order",
    )


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
