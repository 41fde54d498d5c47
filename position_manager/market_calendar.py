"""The NYSE calendar and the sessions it implies (XNYS via exchange_calendars, New York time).

Sessions: PRE 04:00-09:30, REGULAR 09:30-close (16:00, 13:00 on early-close days), POST close-20:00
(17:00 after an early close), CLOSED otherwise and on holidays. One module for the simulator's
clock, the worker's offline session publisher and the pipeline's missing-day check.

The calendar is built from 2015 through `CALENDAR_END` (exchange_calendars derives XNYS's
holidays from its rules, so it can be built years ahead; it defaults to one year from today). A
date outside it raises `CalendarRangeError`: a guessed session would call NYSE's 2027-12-24
closure a regular day and let a stop trail on it. Ad-hoc closures announced later (a national day
of mourning) come with a newer exchange_calendars release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

from position_manager.errors import CalendarRangeError
from position_manager.session import Session

NEW_YORK = ZoneInfo("America/New_York")
PRE_OPEN = time(4, 0)
POST_CLOSE = time(20, 0)
CALENDAR_START = date(2015, 1, 1)
CALENDAR_END = date(2035, 12, 31)


@lru_cache(maxsize=1)
def _xnys() -> xc.ExchangeCalendar:
    return xc.get_calendar("XNYS", start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat())


def _check_in_range(day: date) -> None:
    if not CALENDAR_START <= day <= CALENDAR_END:
        raise CalendarRangeError(
            f"{day.isoformat()} is outside the exchange calendar "
            f"({CALENDAR_START.isoformat()}..{CALENDAR_END.isoformat()}): no session is guessed "
            "for it; extend CALENDAR_END in position_manager/market_calendar.py (and upgrade "
            "exchange_calendars for the latest holidays)"
        )


@dataclass(frozen=True, slots=True)
class MarketDay:
    date: date
    open: datetime  # UTC
    close: datetime  # UTC

    @property
    def pre_open(self) -> datetime:
        return datetime.combine(self.date, PRE_OPEN, NEW_YORK).astimezone(UTC)

    @property
    def post_close(self) -> datetime:
        return min(
            self.close + timedelta(hours=4),
            datetime.combine(self.date, POST_CLOSE, NEW_YORK).astimezone(UTC),
        )


@lru_cache(maxsize=4096)
def market_day(day: date) -> MarketDay | None:
    """The XNYS session on `day`, or None for weekends and holidays. Raises
    `CalendarRangeError` outside the calendar (before 2015, after `CALENDAR_END`)."""
    _check_in_range(day)
    cal = _xnys()
    stamp = pd.Timestamp(day)
    if not cal.is_session(stamp):
        return None
    row = cal.schedule.loc[stamp]
    return MarketDay(
        day,
        row["open"].to_pydatetime().astimezone(UTC),
        row["close"].to_pydatetime().astimezone(UTC),
    )


def market_days(start: date, end: date) -> list[MarketDay]:
    out = []
    day = start
    while day <= end:
        found = market_day(day)
        if found is not None:
            out.append(found)
        day += timedelta(days=1)
    return out


def session_at(ts: datetime) -> Session:
    day = market_day(ts.astimezone(NEW_YORK).date())
    if day is None:
        return Session.CLOSED
    if day.pre_open <= ts < day.open:
        return Session.PRE
    if day.open <= ts < day.close:
        return Session.REGULAR
    if day.close <= ts < day.post_close:
        return Session.POST
    return Session.CLOSED


def next_regular(ts: datetime) -> tuple[datetime, datetime]:
    """(next open, next close) as Alpaca's clock reports them: during a session the next open is
    tomorrow's and the next close is today's."""
    day = ts.astimezone(NEW_YORK).date()
    next_open = next_close = None
    for offset in range(0, 15):
        found = market_day(day + timedelta(days=offset))
        if found is None:
            continue
        if next_open is None and found.open > ts:
            next_open = found.open
        if next_close is None and found.close > ts:
            next_close = found.close
        if next_open is not None and next_close is not None:
            return next_open, next_close
    raise RuntimeError(f"no trading day within two weeks of {ts.isoformat()}")


def day_end_for(ts: datetime, extended_hours: bool) -> datetime:
    """When a DAY order placed at `ts` expires: today's close (or post-market end for extended
    hours), or the next trading day's if today's has passed."""
    day = ts.astimezone(NEW_YORK).date()
    for offset in range(0, 15):
        found = market_day(day + timedelta(days=offset))
        if found is None:
            continue
        end = found.post_close if extended_hours else found.close
        if end > ts:
            return end
    raise RuntimeError(f"no trading day within two weeks of {ts.isoformat()}")


def closed_sessions(start: date, end: date, *, now: datetime | None = None) -> list[date]:
    """Sessions in [start, end] whose regular close is already past: the days a bar must exist.
    Raises `CalendarRangeError` when the range leaves the calendar."""
    if start > end:
        return []
    _check_in_range(start)
    _check_in_range(end)
    calendar = _xnys()
    first = max(pd.Timestamp(start), calendar.first_session)
    last = min(pd.Timestamp(end), calendar.last_session)
    if first > last:
        return []
    moment = pd.Timestamp(now or datetime.now(UTC))
    sessions = calendar.sessions_in_range(first, last)
    closes = calendar.schedule.loc[sessions, "close"]
    return [s.date() for s, close in zip(sessions, closes, strict=True) if close <= moment]
