"""`position-manager replay`: the live worker's day, replayed from the warehouse, decides the same.

The "live" day is the demo book under `up`'s market (`simulator.market.MarketDriver`'s seeded
paths and story), its worker stepped moment by moment (`app.replay.lockstep`) so the test never
waits on a clock; its events go into the live history by the real ingest. The replay then reads
only the warehouse (history for the starting book, minute bars fetched from the live broker
through alpaca-py, daily bars for the ATR) and runs a fresh worker, simulator and Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis

from app.replay.lockstep import LockStep
from app.replay.record import decisions, event_rows, read_streams
from app.replay.run import (
    LEAD_MINUTES,
    ReplayInputError,
    ReplayRequest,
    parse_overrides,
    replay,
    replay_days,
)
from broker.factory import build_broker
from pipelines.history.jobs import ingest_all
from pipelines.materialize import materialize_everything
from position_manager.config import Settings
from position_manager.market_calendar import market_day
from simulator import SimulatorHandle, start_simulator
from simulator.market import MarketDriver
from warehouse.connection import open_warehouse
from warehouse.tables import MINUTE_BARS, POSITION_EVENTS, REPLAY_EVENTS, REPLAY_RUNS

DAY = market_day(date(2026, 11, 24))
TODAY = date(2026, 12, 1)
assert DAY is not None


@pytest.fixture
def live_sim(redis_url: str) -> Iterator[SimulatorHandle]:
    assert DAY is not None
    handle = start_simulator(
        redis_url=redis_url,
        consume_quotes=False,
        rate_limit=1_000_000,
        clock_start=DAY.open - timedelta(minutes=LEAD_MINUTES + 1),
        clock_speed=0.0,
    )
    handle.simulator.seed_positions()
    yield handle
    handle.stop()


def live_day(
    settings: Settings, sim: SimulatorHandle, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo book's day as `up` plays it, then its history ingested."""
    assert DAY is not None
    # The refresh and the worker share the API key's budget: not Alpaca's 200 a minute when a
    # simulated day passes in seconds.
    monkeypatch.setenv("ALPACA_RATE_LIMIT_PER_MINUTE", "10000")  # the Dagster run's settings
    settings = settings.model_copy(update={"alpaca_rate_limit_per_minute": 10_000})
    result = materialize_everything(
        settings,
        broker_url=str(sim.url),
        redis_url=settings.redis_url.get_secret_value() if settings.redis_url else None,
        last=DAY.date - timedelta(days=1),
        log_level="WARNING",
    )
    assert result.success
    assert settings.redis_url is not None
    step = LockStep(settings, sim, client, settings.redis_url.get_secret_value())
    market = MarketDriver(sim.simulator, client, seed=0, story_day=DAY.date)
    step.start(DAY.open - timedelta(minutes=LEAD_MINUTES + 1), None)
    step.begin_day(DAY.open - timedelta(minutes=LEAD_MINUTES), None)
    at = DAY.open - timedelta(minutes=LEAD_MINUTES)
    while at < DAY.post_close:
        prices = market.prices(at, DAY)
        for symbol, price in prices.items():
            sim.simulator.played_minutes.record(symbol, at, float(price))
        step.play(at, prices)
        at += timedelta(minutes=1)
    step.close_session(DAY.post_close)
    step.stop()
    with open_warehouse(settings.warehouse_path) as conn:
        ingest_all(conn, client)


def test_the_same_book_replayed_with_the_live_settings_decides_the_same(
    settings: Settings,
    live_sim: SimulatorHandle,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live_day(settings, live_sim, redis_client, monkeypatch)
    live = decisions(event_rows("live", read_streams(redis_client)).iter_rows(named=True))
    kinds = {d[1] for d in live}
    # The day did things worth reproducing: stops, trails, a profit level, a stop-out.
    assert {"position.stop_set", "position.trailing_stop_updated"} <= kinds
    assert "position.profit_taking" in kinds
    assert "position.closed" in kinds or "position.reduced" in kinds

    assert DAY is not None
    result = replay(
        settings,
        ReplayRequest(first=DAY.date, last=DAY.date, run_id="same-as-live"),
        bars_broker=build_broker(settings, base_url=str(live_sim.url)),
        today=TODAY,
    )

    assert [p.source for p in result.book] == ["history"] * len(result.book)
    assert result.score.minute_bar_days == len(result.book)
    assert result.score.daily_bar_days == 0
    assert list(result.decisions) == live
    with open_warehouse(settings.warehouse_path) as conn:
        run = conn.execute(
            f"SELECT status, orders, realized_pnl FROM {REPLAY_RUNS} WHERE run_id = ?",
            ["same-as-live"],
        ).fetchone()
        stored = conn.execute(
            f"SELECT count(*) FROM {REPLAY_EVENTS} WHERE run_id = 'same-as-live'"
        ).fetchone()
        live_rows = conn.execute(f"SELECT count(*) FROM {POSITION_EVENTS}").fetchone()
        minutes = conn.execute(f"SELECT count(*) FROM {MINUTE_BARS}").fetchone()
    assert run is not None and run[0] == "ok" and run[1] == result.score.orders > 0
    assert stored == (result.events,)
    assert minutes is not None and minutes[0] >= 600  # the day's minutes, fetched once
    # Never mixed into the live history: its rows are what the live day wrote.
    live_positions = [d for d in live if d[1].startswith("position.")]
    assert live_rows is not None and live_rows[0] >= len(live_positions)

    # A 1 % trail decides differently: the settings reach the replayed worker.
    tight = replay(
        settings,
        ReplayRequest(
            first=DAY.date, last=DAY.date, overrides=parse_overrides(["TRAIL_PERCENT_LARGE=0.01"])
        ),
        today=TODAY,
    )
    assert list(tight.decisions) != live
    trails = [json.loads(d[3]) for d in tight.decisions if d[1] == "position.trailing_stop_updated"]
    assert trails


def test_bad_requests_are_refused_with_the_reason(settings: Settings) -> None:
    with pytest.raises(ReplayInputError, match="not a setting"):
        parse_overrides(["TRAIL_PERCENT_HUGE=0.07"])
    with pytest.raises(ReplayInputError, match="KEY=VALUE"):
        parse_overrides(["TRAIL_PERCENT_LARGE"])
    with pytest.raises(ReplayInputError, match="sets this itself"):
        parse_overrides(["REDIS_URL=redis://elsewhere"])
    with pytest.raises(ReplayInputError, match="after --to"):
        replay_days(date(2026, 11, 25), date(2026, 11, 24), TODAY)
    with pytest.raises(ReplayInputError, match="only closed days"):
        replay_days(date(2026, 11, 24), TODAY, TODAY)
    with pytest.raises(ReplayInputError, match="no trading day"):
        replay_days(date(2026, 11, 28), date(2026, 11, 29), TODAY)
    with pytest.raises(ReplayInputError, match="TRAIL_PERCENT_LARGE"):
        replay(
            settings,
            ReplayRequest(
                first=date(2026, 11, 24),
                last=date(2026, 11, 24),
                overrides=parse_overrides(["TRAIL_PERCENT_LARGE=-3"]),
            ),
            today=TODAY,
        )


def test_nothing_to_replay_says_so(settings: Settings, tmp_path: Path) -> None:
    from app.replay.start_book import NothingToReplayError

    with pytest.raises(NothingToReplayError, match="nothing to replay"):
        replay(settings, ReplayRequest(first=date(2026, 11, 24), last=date(2026, 11, 24)),
               today=TODAY)  # fmt: skip
