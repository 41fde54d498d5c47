"""New York Stock Exchange sessions from exchange_calendars (holidays, early closes included)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache

import exchange_calendars as xcals
import pandas as pd


@cache
def _xnys() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start="2015-01-01")


def closed_sessions(start: date, end: date, *, now: datetime | None = None) -> list[date]:
    """Sessions in [start, end] whose regular close is already past: the days a bar must exist."""
    calendar = _xnys()
    first = max(pd.Timestamp(start), calendar.first_session)
    last = min(pd.Timestamp(end), calendar.last_session)
    if first > last:
        return []
    moment = pd.Timestamp(now or datetime.now(UTC))
    sessions = calendar.sessions_in_range(first, last)
    closes = calendar.schedule.loc[sessions, "close"]
    return [s.date() for s, close in zip(sessions, closes, strict=True) if close <= moment]
