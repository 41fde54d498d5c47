"""The exchange calendar is built years ahead and never guesses a session past its end."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from position_manager.errors import CalendarRangeError
from position_manager.market_calendar import (
    CALENDAR_END,
    closed_sessions,
    market_day,
    next_regular,
    session_at,
)
from position_manager.session import Session


def test_christmas_eve_2027_is_a_closure_not_a_regular_day() -> None:
    # NYSE observes Christmas 2027 (a Saturday) on Friday 2027-12-24; the calendar used to end
    # on 2027-12-01 and call every weekday after it a regular session.
    assert market_day(date(2027, 12, 24)) is None
    assert session_at(datetime(2027, 12, 24, 15, 0, tzinfo=UTC)) is Session.CLOSED


@pytest.mark.parametrize(
    ("day", "is_session"),
    [
        (date(2030, 12, 25), False),  # Christmas
        (date(2033, 7, 4), False),  # Independence Day
        (date(2035, 11, 22), False),  # Thanksgiving
        (date(2035, 11, 23), True),  # the day after: an early close
        (date(2035, 12, 31), True),
    ],
)
def test_holidays_years_ahead_come_from_the_rules(day: date, is_session: bool) -> None:
    assert (market_day(day) is not None) is is_session


def test_the_day_after_thanksgiving_2035_closes_early() -> None:
    found = market_day(date(2035, 11, 23))
    assert found is not None and found.close == datetime(2035, 11, 23, 18, 0, tzinfo=UTC)


def test_the_calendar_reaches_at_least_2035() -> None:
    assert date(2035, 12, 31) <= CALENDAR_END


@pytest.mark.parametrize("day", [date(2036, 1, 2), date(2040, 6, 4), date(2014, 12, 31)])
def test_a_day_outside_the_calendar_is_a_clear_error_not_a_guess(day: date) -> None:
    with pytest.raises(CalendarRangeError, match=r"outside the exchange calendar.*CALENDAR_END"):
        market_day(day)


def test_sessions_and_clocks_past_the_end_raise_too() -> None:
    with pytest.raises(CalendarRangeError):
        session_at(datetime(2036, 3, 3, 15, 0, tzinfo=UTC))
    with pytest.raises(CalendarRangeError):
        next_regular(datetime(2035, 12, 31, 22, 0, tzinfo=UTC))  # the next open is past the end
    with pytest.raises(CalendarRangeError):
        closed_sessions(date(2035, 12, 1), date(2036, 1, 31))
