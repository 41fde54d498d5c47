"""Bad input through the assets: Alpha Vantage notes, bad bars, a locked warehouse file."""

from __future__ import annotations

import dagster as dg
import pytest
import redis

from pipelines.lib.alpha_vantage import AlphaVantageRateLimitError
from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.universe import universe
from pipelines.resources import WarehouseResource
from pipelines.risk.atr import atr
from pipelines.risk.earnings_calendar import earnings_calendar
from pipelines.risk.risk_parameters import risk_parameters
from pipelines.risk.symbol_profiles import symbol_profiles
from position_manager.redis_schema import RISK_PARAMS_KEY
from tests.pipelines.av_standin import (
    EARNINGS_CSV,
    RATE_LIMIT_INFORMATION,
    AlphaVantageStandIn,
    overview_json,
)
from tests.pipelines.conftest import PipelineEnv
from tests.support.duckdb_lock import duckdb_locked_by_another_process
from warehouse.connection import open_warehouse
from warehouse.errors import WarehouseBusyError
from warehouse.tables import DAILY_BARS, EARNINGS_CALENDAR, SYMBOL_PROFILES


def _step_error(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """(class name, message) of the exception that failed the one failed step."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None
    while error.cause is not None:
        error = error.cause
    return error.cls_name or "", error.message


def _with_alpha_vantage(env: PipelineEnv, stand_in: AlphaVantageStandIn) -> dict:
    return env.resources(alpha_vantage_api_key="test-key", alpha_vantage_url=stand_in.url)


def test_profiles_and_calendar_come_from_alpha_vantage_with_a_key(
    pipeline_env: PipelineEnv, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW", overview_json("AAPL", "3400000000000"))
    alpha_vantage.answer("OVERVIEW:SNDL", overview_json("SNDL", "250000000"))
    alpha_vantage.answer("OVERVIEW:ZZZZ", "{}")
    alpha_vantage.answer(
        "EARNINGS_CALENDAR",
        EARNINGS_CSV.format(aapl="2099-05-01", sndl="2099-05-08", msft="2099-04-24"),
        csv=True,
    )
    resources = _with_alpha_vantage(pipeline_env, alpha_vantage)
    assert dg.materialize([universe], resources=resources).success
    # OVERVIEW answers "AAPL" for every symbol but SNDL/ZZZZ: a mismatched answer is flagged.
    result = dg.materialize([symbol_profiles, earnings_calendar], resources=resources)
    assert result.success
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        profiles = {
            s: (cls, src)
            for s, cls, src in conn.execute(
                f"SELECT symbol, cap_class, source FROM {SYMBOL_PROFILES}"
            ).fetchall()
        }
        calendar = conn.execute(
            f"SELECT symbol, CAST(report_date AS VARCHAR), time_of_the_day, source "
            f"FROM {EARNINGS_CALENDAR} ORDER BY symbol"
        ).fetchall()
    assert profiles["AAPL"] == ("large", "alpha_vantage")
    assert profiles["SNDL"] == ("micro", "alpha_vantage")
    assert profiles["ZZZZ"] == ("large", "unknown")
    assert profiles["MSFT"][1] == "unavailable"  # answer was for AAPL: not trusted
    assert calendar == [
        ("AAPL", "2099-05-01", "post-market", "alpha_vantage"),
        ("MSFT", "2099-04-24", "post-market", "alpha_vantage"),
        ("SNDL", "2099-05-08", "pre-market", "alpha_vantage"),
    ]
    (query,) = alpha_vantage.calls("EARNINGS_CALENDAR")
    assert "symbol" not in query
    # Cached: a second run spends no request.
    assert dg.materialize([symbol_profiles, earnings_calendar], resources=resources).success
    assert len(alpha_vantage.calls("EARNINGS_CALENDAR")) == 1


def test_a_rate_limit_note_with_no_cache_fails_the_calendar_clearly(
    pipeline_env: PipelineEnv, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("EARNINGS_CALENDAR", RATE_LIMIT_INFORMATION, csv=True)
    result = dg.materialize(
        [earnings_calendar],
        resources=_with_alpha_vantage(pipeline_env, alpha_vantage),
        raise_on_error=False,
    )
    assert not result.success
    cls_name, message = _step_error(result)
    assert cls_name == AlphaVantageRateLimitError.__name__
    assert "rate limit" in message and "test-key" not in message


def test_a_rate_limit_note_after_the_first_profile_stops_further_requests(
    pipeline_env: PipelineEnv, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW", RATE_LIMIT_INFORMATION)
    resources = _with_alpha_vantage(pipeline_env, alpha_vantage)
    assert dg.materialize([universe], resources=resources).success
    result = dg.materialize([symbol_profiles], resources=resources)
    assert len(alpha_vantage.calls("OVERVIEW")) == 1
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed  # held symbols without a market cap are reported
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        sources = {s for (s,) in conn.execute(f"SELECT source FROM {SYMBOL_PROFILES}").fetchall()}
    assert sources == {"unavailable"}


def test_an_implausible_atr_blocks_risk_parameters(
    pipeline_env: PipelineEnv, redis_client: redis.Redis
) -> None:
    resources = pipeline_env.resources()
    assert dg.materialize([universe], resources=resources).success
    assert dg.materialize(
        [daily_bars], resources=resources, tags={
            "dagster/asset_partition_range_start": "2025-03-03",
            "dagster/asset_partition_range_end": "2025-03-31",
        },
    ).success  # fmt: skip
    # A sane-looking but absurd bar (high 10x low): passes OHLC rules, fails plausibility.
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        conn.execute(
            f"UPDATE {DAILY_BARS} SET high = close * 10, low = close / 10, open = close "
            "WHERE symbol = 'AAPL' AND date >= '2025-03-17'"
        )
    result = dg.materialize(
        [universe, atr, symbol_profiles, earnings_calendar, risk_parameters],
        resources=resources,
        selection=[atr, symbol_profiles, earnings_calendar, risk_parameters],
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["atr_values_sane"].passed
    assert "AAPL" in str(checks["atr_values_sane"].metadata["implausible"].value)
    assert not result.asset_materializations_for_node("risk_parameters")
    assert redis_client.exists(RISK_PARAMS_KEY.format(symbol="AAPL")) == 0


def test_a_nan_bar_gives_a_null_atr_with_a_reason_and_a_fallback_stop(
    pipeline_env: PipelineEnv, redis_client: redis.Redis
) -> None:
    resources = pipeline_env.resources()
    assert dg.materialize([universe], resources=resources).success
    tags = {
        "dagster/asset_partition_range_start": "2025-03-03",
        "dagster/asset_partition_range_end": "2025-03-31",
    }
    assert dg.materialize([daily_bars], resources=resources, tags=tags).success
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        conn.execute(
            f"UPDATE {DAILY_BARS} SET high = 'NaN'::DOUBLE, quality_issue = NULL "
            "WHERE symbol = 'SNDL' AND date = '2025-03-28'"
        )
    result = dg.materialize(
        [universe, atr, symbol_profiles, earnings_calendar, risk_parameters],
        resources=resources,
        selection=[atr, symbol_profiles, earnings_calendar, risk_parameters],
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["atr_values_sane"].passed
    assert not checks["atr_present_for_held_symbols"].passed
    sndl = redis_client.hgetall(RISK_PARAMS_KEY.format(symbol="SNDL"))
    assert sndl[b"atr"] == b"" and sndl[b"stop_pct"] == b"0.200000"  # micro-cap fallback


def test_a_warehouse_locked_by_another_process_fails_with_warehouse_busy(
    pipeline_env: PipelineEnv,
) -> None:
    path = pipeline_env.settings.warehouse_path
    with open_warehouse(path):
        pass
    with duckdb_locked_by_another_process(path):
        resources = pipeline_env.resources()
        resources["duckdb"] = WarehouseResource(database=str(path), lock_wait_seconds=0.2)
        result = dg.materialize([universe], resources=resources, raise_on_error=False)
    assert not result.success
    cls_name, message = _step_error(result)
    assert cls_name == WarehouseBusyError.__name__
    assert "locked by another process" in message


@pytest.mark.parametrize("kind", ["in-run simulator"])
def test_without_a_broker_url_the_run_starts_and_stops_its_own_simulator(
    pipeline_env: PipelineEnv, kind: str
) -> None:
    pipeline_env.broker_url = None
    result = dg.materialize([universe], resources=pipeline_env.resources())
    assert result.success
    (event,) = result.asset_materializations_for_node("universe")
    assert event.metadata["held"].value == 6
