"""Market sessions: from the broker's clock when online, from the XNYS calendar when offline.

PRE 04:00 to the open, REGULAR open to close (13:00 on early-close days), POST close to 20:00
(at most four hours), CLOSED otherwise, New York time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from rules.model import Session

NEW_YORK = ZoneInfo("America/New_York")


@lru_cache(maxsize=512)
def _regular_hours(day: date) -> tuple[datetime, datetime] | None:
    import exchange_calendars as xc
    import pandas as pd

    cal = xc.get_calendar("XNYS")
    stamp = pd.Timestamp(day)
    if not (cal.first_session <= stamp <= cal.last_session):
        if day.weekday() >= 5:
            return None
        return (
            datetime.combine(day, time(9, 30), NEW_YORK).astimezone(UTC),
            datetime.combine(day, time(16, 0), NEW_YORK).astimezone(UTC),
        )
    if not cal.is_session(stamp):
        return None
    row = cal.schedule.loc[stamp]
    return row["open"].to_pydatetime().astimezone(UTC), row["close"].to_pydatetime().astimezone(UTC)


def session_from_hours(now: datetime, hours: tuple[datetime, datetime] | None) -> Session:
    if hours is None:
        return Session.CLOSED
    open_, close = hours
    day = now.astimezone(NEW_YORK).date()
    pre = datetime.combine(day, time(4, 0), NEW_YORK).astimezone(UTC)
    post = min(
        close + timedelta(hours=4), datetime.combine(day, time(20, 0), NEW_YORK).astimezone(UTC)
    )
    if pre <= now < open_:
        return Session.PRE
    if open_ <= now < close:
        return Session.REGULAR
    if close <= now < post:
        return Session.POST
    return Session.CLOSED


def calendar_session(now: datetime) -> Session:
    """Offline: the XNYS calendar (exchange_calendars)."""
    return session_from_hours(now, _regular_hours(now.astimezone(NEW_YORK).date()))
