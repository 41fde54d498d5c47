"""A replay's score: what a trader compares two stop settings by. Pure functions of the run's
events, its marks (equity and unprotected symbols at every replayed moment) and the prices it
played."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.replay.feed import DayPlan
from app.replay.lockstep import Mark
from position_manager import events
from position_manager.market_calendar import NEW_YORK

RECOVERY_SESSIONS = 5  # a stop-out "recovered" when the price came back within this many sessions


@dataclass(frozen=True, slots=True)
class Score:
    minutes_played: int
    minute_bar_days: int
    daily_bar_days: int
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    worst_drawdown: Decimal  # positive: the largest fall of equity from an earlier peak
    orders: int
    longest_unprotected_s: float
    stop_outs: int
    stop_outs_recovered: int


def realized(recorded: Sequence[events.Event]) -> Decimal:
    """Realized P&L over the run: each closed position's total, plus what the still-open ones
    realized so far (`position.reduced`'s running `pnl`)."""
    banked = Decimal(0)
    running: dict[str, Decimal] = {}
    for event in recorded:
        symbol = str(event.data.get("symbol"))
        if event.event == events.POSITION_REDUCED:
            running[symbol] = Decimal(str(event.data["pnl"]))
        elif event.event == events.POSITION_CLOSED:
            banked += Decimal(str(event.data["pnl"]))
            running.pop(symbol, None)
    return banked + sum(running.values(), Decimal(0))


def worst_drawdown(marks: Sequence[Mark]) -> Decimal:
    peak: Decimal | None = None
    worst = Decimal(0)
    for mark in marks:
        peak = mark.equity if peak is None else max(peak, mark.equity)
        worst = max(worst, peak - mark.equity)
    return worst


def longest_unprotected(marks: Sequence[Mark]) -> float:
    """Simulated seconds, at the replay's resolution (one moment), a held symbol spent with
    shares no stop covered."""
    since: dict[str, datetime] = {}
    longest = 0.0
    for mark in marks:
        now = set(mark.unprotected)
        for symbol in list(since):
            if symbol not in now:
                longest = max(longest, (mark.at - since.pop(symbol)).total_seconds())
        for symbol in now:
            since.setdefault(symbol, mark.at)
    if marks:
        for start in since.values():
            longest = max(longest, (marks[-1].at - start).total_seconds())
    return longest


def stop_outs(recorded: Sequence[events.Event], plans: Sequence[DayPlan]) -> tuple[int, int]:
    """(stop exits, those after which the price came back past the exit within
    `RECOVERY_SESSIONS` sessions: the stop cost the position its recovery)."""
    exits = [
        e for e in recorded
        if e.event in (events.POSITION_REDUCED, events.POSITION_CLOSED)
        and e.data.get("reason") == "stop"
    ]  # fmt: skip
    recovered = 0
    for exit_event in exits:
        symbol = str(exit_event.data["symbol"])
        price = Decimal(str(exit_event.data.get("price") or exit_event.data.get("exit_price")))
        was_long = str(exit_event.data.get("side", "long")) == "long"
        exit_day = exit_event.ts.astimezone(NEW_YORK).date()
        following = [p for p in plans if p.day.date >= exit_day][: RECOVERY_SESSIONS + 1]
        for plan in following:
            if any(
                at > exit_event.ts and symbol in prices
                and (prices[symbol] > price if was_long else prices[symbol] < price)
                for at, prices in plan.moments
            ):  # fmt: skip
                recovered += 1
                break
    return len(exits), recovered


def score(
    recorded: Sequence[events.Event],
    marks: Sequence[Mark],
    plans: Sequence[DayPlan],
    *,
    orders: int,
    unrealized: Decimal,
    minutes: int,
) -> Score:
    outs, back = stop_outs(recorded, plans)
    return Score(
        minutes_played=minutes,
        minute_bar_days=sum(len(p.from_minutes) for p in plans),
        daily_bar_days=sum(len(p.from_daily) for p in plans),
        realized_pnl=realized(recorded),
        unrealized_pnl=unrealized,
        worst_drawdown=worst_drawdown(marks),
        orders=orders,
        longest_unprotected_s=longest_unprotected(marks),
        stop_outs=outs,
        stop_outs_recovered=back,
    )
