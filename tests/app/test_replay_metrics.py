"""The replay's pure parts: prices from bars, and the score a trader compares settings by."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.replay.feed import DayPlan, minute_quotes
from app.replay.lockstep import Mark
from app.replay.metrics import longest_unprotected, realized, stop_outs, worst_drawdown
from position_manager import events
from position_manager.market_calendar import market_day, market_days
from simulator.paths import DailyBar, bar_path

DAY = market_day(date(2026, 11, 24))
assert DAY is not None
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def event(name: str, at: datetime, **data: object) -> events.Event:
    return events.Event(event=name, id="x", ts=at, data=dict(data))


@given(
    st.floats(10, 500),
    st.floats(0.001, 0.1),
    st.floats(0.001, 0.1),
    st.floats(0, 1),
    st.integers(1, 30),
)
def test_a_daily_bar_is_played_from_open_through_both_extremes_to_close(
    open_: float, up: float, down: float, where: float, step: int
) -> None:
    assert DAY is not None
    high, low = open_ * (1 + up), open_ * (1 - down)
    close = low + (high - low) * where
    path = bar_path("AAPL", DAY, DailyBar(DAY.date, open_, high, low, close, 1), step_minutes=step)
    prices = [p for _at, p in path]
    tick = Decimal("0.01")
    assert abs(prices[0] - Decimal(str(open_))) <= tick
    assert abs(prices[-1] - Decimal(str(close))) <= tick
    assert abs(max(prices) - Decimal(str(high))) <= tick
    assert abs(min(prices) - Decimal(str(low))) <= tick
    times = [at for at, _p in path]
    assert times == sorted(times) and DAY.open <= times[0] and times[-1] < DAY.close


def test_a_minute_bar_plays_open_near_extreme_far_extreme_close() -> None:
    up = minute_quotes(T0, 10.0, 10.5, 9.8, 10.4)
    assert [p for _t, p in up] == [Decimal("10.00"), Decimal("9.80"), Decimal("10.50"),
                                   Decimal("10.40")]  # fmt: skip
    assert [t - T0 for t, _p in up] == [timedelta(seconds=s) for s in (0, 15, 30, 45)]
    assert [p for _t, p in minute_quotes(T0, 7.0, 7.0, 7.0, 7.0)] == [Decimal("7.00")]


def test_realized_banks_closed_positions_and_counts_open_ones_so_far() -> None:
    recorded = [
        event(events.POSITION_REDUCED, T0, symbol="NVDA", pnl="100", realized_pnl="100"),
        event(events.POSITION_CLOSED, T0, symbol="XOM", pnl="-40.5"),
        event(events.POSITION_REDUCED, T0, symbol="AAPL", pnl="10"),
        event(events.POSITION_CLOSED, T0, symbol="AAPL", pnl="25"),  # includes the 10
    ]
    assert realized(recorded) == Decimal("84.5")


def test_worst_drawdown_is_from_an_earlier_peak() -> None:
    marks = [Mark(T0 + timedelta(minutes=i), Decimal(e), Decimal(0), ()) for i, e in
             enumerate(["100", "120", "90", "130", "110"])]  # fmt: skip
    assert worst_drawdown(marks) == Decimal("30")
    assert worst_drawdown([]) == 0


def test_longest_unprotected_counts_each_symbols_interval() -> None:
    marks = [
        Mark(T0, Decimal(0), Decimal(0), ()),
        Mark(T0 + timedelta(minutes=1), Decimal(0), Decimal(0), ("AAPL",)),
        Mark(T0 + timedelta(minutes=2), Decimal(0), Decimal(0), ("AAPL", "XOM")),
        Mark(T0 + timedelta(minutes=5), Decimal(0), Decimal(0), ("XOM",)),
        Mark(T0 + timedelta(minutes=6), Decimal(0), Decimal(0), ()),
    ]
    assert longest_unprotected(marks) == 240.0  # AAPL 1 -> 5 minutes
    assert longest_unprotected(marks[:3]) == 60.0  # still open at the end: to the last mark


def test_a_stop_out_recovered_when_the_price_came_back_within_five_sessions() -> None:
    days = market_days(date(2026, 11, 2), date(2026, 11, 20))
    plans = [DayPlan(d, [(d.open, {"AAPL": Decimal("100")})]) for d in days]
    plans[7].moments = [(days[7].open, {"AAPL": Decimal("106")})]  # 7 sessions later
    plans[3].moments = [(days[3].open, {"MSFT": Decimal("50")})]
    exits = [
        event(events.POSITION_CLOSED, days[0].close, symbol="AAPL", exit_price="105",
              side="long", reason="stop"),  # back above 105 only after 7 sessions: not counted
        event(events.POSITION_REDUCED, days[1].close, symbol="MSFT", price="49", side="long",
              reason="stop"),  # 50 two sessions later: recovered
        event(events.POSITION_CLOSED, days[1].close, symbol="XOM", exit_price="1", side="long",
              reason="exit"),  # not a stop
    ]  # fmt: skip
    assert stop_outs(exits, plans) == (2, 1)
