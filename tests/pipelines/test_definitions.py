"""The code location loads, and its lineage is the one the trader sees in the UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.resources import embedded_resources
from position_manager.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def defs(settings: Settings) -> dg.Definitions:
    from pipelines.definitions import defs as loaded

    assert dg.Definitions.validate_loadable(loaded) is None
    return loaded


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name)


def test_lineage_bars_to_atr_to_risk_parameters_with_profiles_and_earnings(
    defs: dg.Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}  # fmt: skip
    assert parents == {
        "universe": set(),
        "daily_bars": {"universe"},
        "symbol_profiles": {"universe"},
        "atr": {"daily_bars"},
        "earnings_calendar": set(),
        "risk_parameters": {"universe", "atr", "symbol_profiles", "earnings_calendar"},
        "stop_policy_comparison": {"universe", "atr", "symbol_profiles", "earnings_calendar"},
    }


def test_every_check_job_and_schedule_is_present(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {
        ("daily_bars", "ohlc_sane"),
        ("daily_bars", "no_missing_trading_days"),
        ("symbol_profiles", "market_cap_known_for_held_symbols"),
        ("atr", "atr_values_sane"),
        ("atr", "atr_present_for_held_symbols"),
        ("earnings_calendar", "earnings_calendar_fresh"),
    }
    blocking = {k.name for k in graph.asset_check_keys if graph.get_check_spec(k).blocking}
    assert blocking == {"atr_values_sane"}
    job = defs.resolve_job_def("refresh_risk_parameters")
    assert job.partitions_def is not None
    assert {s.name for s in defs.schedules or []} == {
        "daily_risk_refresh",
        "reconciliation_schedule",
    }
    assert {s.name for s in defs.sensors or []} == {
        "atr_history_sensor",
        "position_history_sensor",
        "pre_earnings_sensor",
        "reconciliation_sensor",
    }


def test_every_asset_that_writes_duckdb_is_in_the_duckdb_pool(defs: dg.Definitions) -> None:
    for assets_def in defs.resolve_all_asset_specs():
        node = defs.resolve_assets_def(assets_def.key)
        assert node.op.pool == "duckdb", assets_def.key


def test_the_embedded_environment_has_every_resource_the_assets_need(settings: Settings) -> None:
    resources = embedded_resources(settings)
    assert set(resources) == {"pm_config", "duckdb", "broker", "alpha_vantage", "redis"}


def test_dagster_validates_the_workspace_file() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
