"""Real ATRs from the first start: the refresh covers the ATR lookback in one run.

The 06:30 schedule used to materialize one daily partition, so a fresh install's ATR read "needs
15 consecutive clean bars, has 1" for every symbol and every stop fell back to a fixed
percentage. Now the schedule backfills the lookback's missing partitions and the sensor asks for
the whole lookback whenever a held or watched symbol has no ATR (a first start, a new symbol).
In-process against the simulator with the demo book, a temp warehouse and the test's Redis.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import dagster as dg
import pytest
import redis

from pipelines import market_data, risk
from pipelines.market_data.lookback import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    lookback_sessions,
)
from pipelines.risk.schedules import daily_refresh_schedule
from pipelines.risk.sensors import atr_history_sensor
from position_manager.market_calendar import NEW_YORK, market_days
from position_manager.redis_schema import RISK_PARAMS_KEY
from position_manager.sample_data import SAMPLE_BOOK
from simulator import SimulatorHandle
from tests.pipelines.conftest import PipelineEnv
from tests.support.redis_reads import hash_text
from warehouse.connection import open_warehouse
from warehouse.tables import DAILY_BARS, RISK_PARAMETERS

HELD = sorted(symbol for symbol, _, _ in SAMPLE_BOOK)
SCHEDULED = datetime(2026, 12, 1, 6, 30, tzinfo=NEW_YORK)  # Tuesday: bars up to Monday 30 Nov


def _launch(
    resources: dict[str, Any], request: dg.RunRequest, instance: dg.DagsterInstance
) -> None:
    """What the daemon does with a run request: one run of the job, with its tags."""
    defs = dg.Definitions(
        assets=[*market_data.ASSETS, *risk.ASSETS],
        asset_checks=[*market_data.CHECKS, *risk.CHECKS],
        jobs=risk.JOBS,
        resources=resources,
    )
    job = defs.resolve_job_def("refresh_risk_parameters")
    result = job.execute_in_process(
        instance=instance, tags={**request.tags, "dagster/run_key": request.run_key or ""}
    )
    assert result.success


def _range(request: dg.RunRequest) -> tuple[date, date]:
    return (
        date.fromisoformat(request.tags[ASSET_PARTITION_RANGE_START_TAG]),
        date.fromisoformat(request.tags[ASSET_PARTITION_RANGE_END_TAG]),
    )


def _schedule_tick(
    resources: dict[str, Any], instance: dg.DagsterInstance, at: datetime
) -> dg.RunRequest:
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=at, resources=resources
    ) as context:
        (request,) = daily_refresh_schedule.evaluate_tick(context).run_requests or []
    return request


def _sensor_tick(resources: dict[str, Any], instance: dg.DagsterInstance) -> Any:
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return atr_history_sensor.evaluate_tick(context)


def _stop_methods(env: PipelineEnv) -> dict[str, str]:
    with open_warehouse(env.settings.warehouse_path) as conn:
        rows = conn.execute(f"SELECT symbol, stop_method FROM {RISK_PARAMETERS}").fetchall()
    return dict(rows)


@pytest.fixture
def resources(pipeline_env: PipelineEnv) -> dict[str, Any]:
    return pipeline_env.resources(watchlist="KO")


def test_the_first_scheduled_refresh_backfills_the_lookback_and_gives_real_atrs(
    resources: dict[str, Any], pipeline_env: PipelineEnv, instance: dg.DagsterInstance,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    request = _schedule_tick(resources, instance, SCHEDULED)
    first, last = _range(request)
    assert last == date(2026, 11, 30)
    sessions = market_days(first, last)
    assert len(sessions) == lookback_sessions(14) == 20  # ATR(14) needs 15, plus a margin
    assert sessions[0].date == first  # the window starts on a session: no day more than needed
    _launch(resources, request, instance)
    assert _stop_methods(pipeline_env) == dict.fromkeys([*HELD, "KO"], "atr")
    for symbol in [*HELD, "KO"]:
        published = hash_text(redis_client, RISK_PARAMS_KEY.format(symbol=symbol))
        assert float(published["atr"]) > 0 and published["atr_reason"] == ""
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        per_symbol = conn.execute(
            f"SELECT min(n), max(n) FROM (SELECT symbol, count(*) AS n FROM {DAILY_BARS} "
            "GROUP BY symbol)"
        ).fetchone()
    assert per_symbol == (20, 20)
    # The next morning only yesterday is missing: the run covers that day alone.
    following = _schedule_tick(resources, instance, datetime(2026, 12, 2, 6, 30, tzinfo=NEW_YORK))
    assert _range(following) == (date(2026, 12, 1), date(2026, 12, 1))
    assert following.run_key != request.run_key


def test_a_first_start_asks_for_the_lookback_at_once_not_at_0630(
    resources: dict[str, Any], pipeline_env: PipelineEnv, instance: dg.DagsterInstance
) -> None:
    """Nothing published yet: the sensor's first tick requests the whole lookback."""
    result = _sensor_tick(resources, instance)
    (request,) = result.run_requests
    first, last = _range(request)
    assert len(market_days(first, last)) == 20
    assert request.tags["pm/symbols"] == ",".join(sorted([*HELD, "KO"]))
    _launch(resources, request, instance)
    assert _stop_methods(pipeline_env) == dict.fromkeys([*HELD, "KO"], "atr")
    skipped = _sensor_tick(resources, instance)
    assert not skipped.run_requests
    assert "Every held or watched symbol has an ATR" in str(skipped.skip_message)


def test_a_new_held_or_watched_symbol_gets_its_backfill(
    pipeline_env: PipelineEnv, instance: dg.DagsterInstance, simulator: SimulatorHandle
) -> None:
    before = pipeline_env.resources(watchlist="KO")
    (first_run,) = _sensor_tick(before, instance).run_requests
    _launch(before, first_run, instance)
    # Later the same day: JPM joins the watchlist and CLOV is bought. Their bars were never
    # loaded (every partition of the window is materialized, for the old universe).
    from decimal import Decimal

    simulator.simulator.seed_positions([("CLOV", Decimal(100), Decimal("3.20"))])
    after = pipeline_env.resources(watchlist="KO,JPM")
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        stored = conn.execute(f"SELECT DISTINCT symbol FROM {DAILY_BARS}").fetchall()
    assert {"CLOV", "JPM"}.isdisjoint(s for (s,) in stored)
    (request,) = _sensor_tick(after, instance).run_requests
    assert request.tags["pm/symbols"] == "CLOV,JPM"
    assert len(market_days(*_range(request))) == 20
    assert request.run_key != first_run.run_key
    _launch(after, request, instance)
    assert _stop_methods(pipeline_env) == dict.fromkeys([*HELD, "KO", "JPM", "CLOV"], "atr")
    assert not _sensor_tick(after, instance).run_requests


def test_a_symbol_the_broker_has_no_bars_for_is_asked_for_once_a_day(
    pipeline_env: PipelineEnv, instance: dg.DagsterInstance
) -> None:
    resources = pipeline_env.resources(watchlist="KO,ZZZZ")
    (request,) = _sensor_tick(resources, instance).run_requests
    _launch(resources, request, instance)
    assert _stop_methods(pipeline_env)["ZZZZ"] == "fallback"  # no bars anywhere: no ATR
    (again,) = _sensor_tick(resources, instance).run_requests
    assert again.tags["pm/symbols"] == "ZZZZ"
    # Another symbol set, another key; the same set the same day, the same key (Dagster never
    # starts two runs for one key), so ZZZZ does not start a run every minute.
    assert again.run_key != request.run_key
    assert _sensor_tick(resources, instance).run_requests[0].run_key == again.run_key
