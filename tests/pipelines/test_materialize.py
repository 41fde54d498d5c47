"""The whole chain materialized in-process against the simulator (no keys): DuckDB and Redis."""

from __future__ import annotations

import base64
from datetime import date

import dagster as dg
import pytest
import redis
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.universe import universe
from pipelines.risk.atr import atr
from pipelines.risk.earnings_calendar import earnings_calendar, earnings_calendar_fresh
from pipelines.risk.risk_parameters import risk_parameters
from pipelines.risk.symbol_profiles import symbol_profiles
from position_manager.market_calendar import closed_sessions
from position_manager.redis_schema import RISK_PARAMS_KEY, text
from position_manager.sample_data import SAMPLE_BOOK
from tests.pipelines.conftest import PipelineEnv
from tests.support.redis_reads import hash_text
from warehouse.connection import open_warehouse
from warehouse.tables import ATR, DAILY_BARS, RISK_PARAMETERS, SYMBOL_PROFILES

CHAIN = [universe, daily_bars, symbol_profiles, atr, earnings_calendar, risk_parameters]
FIRST, LAST = "2025-03-03", "2025-04-25"  # includes Good Friday (2025-04-18): no session
HELD = sorted(symbol for symbol, _, _ in SAMPLE_BOOK)
HASH_FIELDS = {
    "symbol", "cap_class", "atr", "atr_period", "atr_method", "atr_pct", "atr_reason",
    "reference_price",
    "stop_pct", "target_pct", "trail_pct", "next_report_date", "market_cap", "profile_source",
    "as_of",
}  # fmt: skip


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def _hash(client: redis.Redis, symbol: str) -> dict[str, str]:
    return hash_text(client, RISK_PARAMS_KEY.format(symbol=symbol))


@pytest.fixture
def chain_result(pipeline_env: PipelineEnv) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*CHAIN, earnings_calendar_fresh],
        resources=pipeline_env.resources(),
        tags=_range_tags(FIRST, LAST),
    )


def test_the_chain_materializes_from_the_simulator_without_keys(
    chain_result: dg.ExecuteInProcessResult, pipeline_env: PipelineEnv
) -> None:
    assert chain_result.success
    sessions = closed_sessions(date.fromisoformat(FIRST), date.fromisoformat(LAST))
    assert date(2025, 4, 18) not in sessions
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        per_symbol = dict(
            conn.execute(f"SELECT symbol, count(*) FROM {DAILY_BARS} GROUP BY 1").fetchall()
        )
        sources = dict(conn.execute(f"SELECT symbol, source FROM {SYMBOL_PROFILES}").fetchall())
        atr_rows = conn.execute(f"SELECT count(*) FROM {ATR} WHERE atr IS NOT NULL").fetchone()
        stored = conn.execute(f"SELECT count(*) FROM {RISK_PARAMETERS}").fetchone()
    assert per_symbol == {s: len(sessions) for s in [*HELD, "KO"]}  # ZZZZ is unknown: no bars
    assert sources["AAPL"] == "sample" and sources["ZZZZ"] == "unknown"
    assert atr_rows is not None and atr_rows[0] > 0
    assert stored == (len(HELD) + 2,)
    # Metadata the UI shows.
    (bars_event, *_) = chain_result.asset_materializations_for_node("daily_bars")
    assert bars_event.metadata["dagster/row_count"].value == len(sessions) * (len(HELD) + 1)
    assert "preview" in bars_event.metadata


def test_checks_pass_on_clean_data_and_flag_the_unknown_symbol(
    chain_result: dg.ExecuteInProcessResult,
) -> None:
    assert _check(chain_result, "ohlc_sane").passed
    assert _check(chain_result, "atr_values_sane").passed
    assert _check(chain_result, "atr_present_for_held_symbols").passed
    assert _check(chain_result, "earnings_calendar_fresh").passed
    gaps = _check(chain_result, "no_missing_trading_days")
    assert not gaps.passed and "ZZZZ" in str(gaps.metadata["gaps"].value)


def test_risk_parameters_reach_redis_in_the_workers_format(
    chain_result: dg.ExecuteInProcessResult, redis_client: redis.Redis
) -> None:
    aapl, sndl, zzzz = (_hash(redis_client, s) for s in ("AAPL", "SNDL", "ZZZZ"))
    assert set(aapl) == HASH_FIELDS
    assert aapl["cap_class"] == "large" and sndl["cap_class"] == "micro"
    assert 0.08 <= float(aapl["stop_pct"]) <= 0.15
    assert float(aapl["target_pct"]) == pytest.approx(2 * float(aapl["stop_pct"]))
    assert 0.15 <= float(sndl["stop_pct"]) <= 0.24
    assert float(sndl["target_pct"]) == pytest.approx(3 * float(sndl["stop_pct"]))
    assert (aapl["trail_pct"], sndl["trail_pct"]) == ("0.05", "0.09")
    assert aapl["reference_price"] == "185.0000"  # the entry price of the held position
    assert aapl["atr_period"] == "14" and aapl["atr_method"] == "sma"
    assert float(aapl["atr"]) > 0 and aapl["profile_source"] == "sample"
    assert date.fromisoformat(aapl["next_report_date"]) > date(2025, 1, 1)
    # Unknown symbol: no ATR, fixed fallback for a large cap (12% / 24%).
    assert zzzz["atr"] == "" and (zzzz["stop_pct"], zzzz["target_pct"]) == ("0.120000", "0.240000")


def test_rematerializing_a_partition_replaces_it(pipeline_env: PipelineEnv) -> None:
    resources = pipeline_env.resources()
    assert dg.materialize([universe], resources=resources).success
    for _ in range(2):
        assert dg.materialize(
            [daily_bars], resources=resources, partition_key="2025-04-10",
            selection=[daily_bars],
        ).success  # fmt: skip
    with open_warehouse(pipeline_env.settings.warehouse_path) as conn:
        rows = conn.execute(
            f"SELECT count(*), count(DISTINCT symbol) FROM {DAILY_BARS} WHERE date = '2025-04-10'"
        ).fetchone()
    assert rows == (len(HELD) + 1, len(HELD) + 1)


def test_materialize_everything_is_one_call_for_the_run_command(
    pipeline_env: PipelineEnv, redis_client: redis.Redis
) -> None:
    from pipelines.materialize import materialize_everything, partition_range

    assert partition_range(date(2025, 2, 1), 60) == ("2025-01-02", "2025-02-01")
    result = materialize_everything(
        pipeline_env.settings,
        broker_url=pipeline_env.broker_url,
        overrides=pipeline_env.overrides,
        last=date(2025, 4, 25),
    )
    assert result.success
    assert {text(s) for s in redis_client.keys("pm:risk:*")} == {
        RISK_PARAMS_KEY.format(symbol=s) for s in [*HELD, "KO", "ZZZZ"]
    }


def test_risk_parameters_carry_a_chart_of_the_stops_in_their_metadata(
    chain_result: dg.ExecuteInProcessResult,
) -> None:
    (materialization,) = [
        m for m in chain_result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("risk_parameters")
    ]  # fmt: skip
    metadata = materialization.materialization.metadata
    chart = metadata["stop_chart"].value
    assert isinstance(chart, str) and chart.startswith(
        "![stop distance per symbol](data:image/png;"
    )
    png = base64.b64decode(chart.split("base64,", 1)[1].rstrip(")"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
