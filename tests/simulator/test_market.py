"""The simulated market: pure day paths from the daily bars, and the driver that plays them into
a real simulator (over its clock) and the Redis quote stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import redis

from broker.alpaca_adapter import AlpacaBroker
from position_manager import events
from position_manager.market_calendar import MarketDay, market_day, session_at
from position_manager.session import Session
from simulator import SimulatorHandle, start_simulator
from simulator.market import MarketDriver, first_start, next_start, played_until, resume_start
from simulator.paths import DEMO_STORY, Move, day_path, volatility_from_closes
from tests.support.redis_reads import event_data
from tests.support.simulator import make_broker
from tests.support.waits import wait_until


def _day(day: date) -> MarketDay:
    found = market_day(day)
    assert found is not None
    return found


DAY = _day(date(2026, 11, 24))


def test_a_day_path_is_deterministic_and_its_bar_is_its_regular_session() -> None:
    one = day_path("NVDA", DAY, 120.0, 0.03, seed=7)
    assert one == day_path("NVDA", DAY, 120.0, 0.03, seed=7)
    assert one != day_path("NVDA", DAY, 120.0, 0.03, seed=8)
    bar = one.bar()
    assert (bar.open, bar.close) == (float(one.regular[0]), float(one.regular[-1]))
    assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
    assert (len(one.pre), len(one.regular), len(one.post)) == (330, 390, 240)
    # It starts from the previous close: the pre-market's first minute is within a few ticks.
    assert abs(float(one.pre[0]) - 120.0) < 0.5


def test_news_moves_are_reached_relative_to_the_previous_close() -> None:
    path = day_path("NVDA", DAY, 100.0, 0.03, moves=(Move(0.27, 75),))
    assert path.regular[75] == Decimal("127.00")


def test_price_at_follows_the_sessions_and_is_none_outside_them() -> None:
    path = day_path("AAPL", DAY, 190.0, 0.015)
    assert path.price_at(DAY.open) == path.regular[0]
    assert path.price_at(DAY.open - timedelta(minutes=1)) == path.pre[-1]
    assert path.price_at(DAY.close) == path.post[0]
    assert path.price_at(DAY.pre_open - timedelta(minutes=1)) is None
    assert path.price_at(DAY.post_close) is None


def test_volatility_comes_from_the_bars() -> None:
    quiet = volatility_from_closes([100, 100.5, 100.2, 100.6, 100.4])
    wild = volatility_from_closes([2.0, 2.2, 1.9, 2.3, 1.8])
    assert quiet < 0.01 < wild


def test_the_first_day_is_the_latest_that_has_opened() -> None:
    start = first_start(DAY.open + timedelta(hours=1))
    assert start == DAY.open - timedelta(minutes=10)
    assert session_at(start) is Session.PRE
    assert next_start(DAY.close) > DAY.close


def test_a_restarted_market_resumes_after_where_it_stopped_never_before() -> None:
    now = DAY.open + timedelta(hours=1)
    assert resume_start(None, now) == first_start(now)
    assert resume_start(DAY.open - timedelta(days=3), now) == first_start(now)
    later = DAY.close + timedelta(minutes=20)
    resumed = resume_start(later, now)
    assert resumed > later and session_at(resumed) is Session.PRE


@pytest.fixture
def market_sim(redis_url: str) -> Iterator[SimulatorHandle]:
    with start_simulator(redis_url=redis_url, consume_quotes=False) as handle:
        handle.simulator.seed_positions()
        yield handle


def test_a_driven_minute_reaches_the_broker_and_the_quote_stream(
    market_sim: SimulatorHandle, redis_client: redis.Redis
) -> None:
    driver = MarketDriver(market_sim.simulator, redis_client, speed=60, watchlist=["KO"])
    driver._first_day = DAY.date  # the story's day
    market_sim.simulator.set_clock(at=DAY.open + timedelta(minutes=75), speed=0)
    sent = driver.step(market_sim.simulator.clock.now())
    assert sent == 7  # the six held symbols and the watched one
    assert played_until(redis_client) == DAY.open + timedelta(minutes=75)
    assert driver.step(market_sim.simulator.clock.now()) == 0  # a minute plays once
    quotes = {q["symbol"]: q for q in event_data(redis_client, None, events.QUOTES_STREAM)}
    assert set(quotes) == {"AAPL", "MSFT", "NVDA", "XOM", "SNDL", "BNGO", "KO"}
    nvda = driver.path("NVDA", DAY)
    assert Decimal(quotes["NVDA"]["last"]) == nvda.regular[75]
    previous, _vol = driver._history("NVDA", DAY.date)
    rally = previous * (1 + DEMO_STORY["NVDA"][1].change)
    assert float(nvda.regular[75]) == pytest.approx(rally, abs=0.01)
    assert market_sim.simulator.latest_trades.price("NVDA") == nvda.regular[75]


def test_a_played_day_is_served_as_its_daily_bar_and_the_night_is_skipped(
    market_sim: SimulatorHandle, redis_client: redis.Redis
) -> None:
    driver = MarketDriver(market_sim.simulator, redis_client, speed=60)
    market_sim.simulator.set_clock(at=DAY.close - timedelta(minutes=1), speed=0)
    driver.step(market_sim.simulator.clock.now())
    night = DAY.post_close + timedelta(minutes=31)
    market_sim.simulator.set_clock(at=night, speed=0)
    driver.step(night)
    now = market_sim.simulator.clock.now()
    assert now == next_start(night) and session_at(now) is Session.PRE
    broker: AlpacaBroker = make_broker(market_sim)
    bars = broker.get_daily_bars(["MSFT"], DAY.open - timedelta(days=3), DAY.close)["MSFT"]
    played = driver.path("MSFT", DAY).bar()
    last = bars[-1]
    assert (float(last.open), float(last.high), float(last.low), float(last.close)) == (
        played.open,
        played.high,
        played.low,
        played.close,
    )
    # The next day starts from the played close.
    previous, _vol = driver._history("MSFT", _day(date(2026, 11, 25)).date)
    assert previous == played.close


def test_the_driver_thread_plays_the_open_on_the_simulated_clock(
    market_sim: SimulatorHandle, redis_client: redis.Redis
) -> None:
    driver = MarketDriver(
        market_sim.simulator, redis_client, speed=600, start=DAY.open - timedelta(minutes=2)
    ).start()
    try:
        assert market_sim.simulator.session() is Session.PRE
        wait_until(lambda: market_sim.simulator.session() is Session.REGULAR, 5, "no open")
        wait_until(lambda: driver.quotes >= 18, 5, "no quotes across the open")
    finally:
        driver.stop()
