"""The main job on embedded defaults, end to end: simulator, Redis, Dagster chain, worker,
scripted quotes, history in DuckDB."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.embedded_run import demo_settings, run_embedded
from app.status import read_status
from position_manager.config import Settings
from position_manager.local_redis import free_port
from position_manager.session import Session
from rules.pnl import unrealized_pnl
from warehouse.connection import open_warehouse

CENT = Decimal("0.01")


def test_the_main_job_protects_trails_takes_profit_and_records_history(
    settings: Settings, redis_url: str
) -> None:
    report, broker, _client, stop = run_embedded(settings, redis_url=redis_url)
    try:
        assert report.startup.positions == 6 and len(report.startup.stops_to_place) == 6
        held = {p.symbol: p for p in report.positions}
        # NVDA ran +52 %: both profit levels, closed. SNDL fell through its stop: closed.
        assert "NVDA" not in held and "SNDL" not in held
        assert {p.symbol for p in broker.list_positions()} == set(held)
        open_orders = broker.list_open_orders()
        assert not [o for o in open_orders if o.symbol in ("NVDA", "SNDL")]
        # Every remaining position has exactly one live stop, matching the worker's state.
        for symbol, pos in held.items():
            stops = [o for o in open_orders if o.symbol == symbol and o.kind.is_stop]
            assert [o.id for o in stops] == [pos.stop_order_id], symbol
        # The short (XOM) trailed down, never up: its stop is below the initial 8 % stop.
        assert held["XOM"].stop_price is not None and held["XOM"].stop_price < Decimal("113")
        assert report.events_by_name["position.trailing_stop_updated"] > 0
        assert report.events_by_name["position.profit_taking"] == 2
        assert report.history_rows and report.history_rows > 0
        assert report.warehouse_path == settings.data_dir / "demo" / "warehouse.duckdb"
        with open_warehouse(report.warehouse_path, read_only=True) as conn:
            trades = dict(conn.execute("SELECT symbol, realized_pnl FROM closed_trades").fetchall())
        assert trades["NVDA"] > 0 > trades["SNDL"]
        # The SQL views, `status` and the live table's rows agree to the cent, position by
        # position, with each other and with the worker's book.
        with open_warehouse(report.warehouse_path, read_only=True) as conn:
            views = {
                s: Decimal(u).quantize(CENT)
                for s, u in conn.execute(
                    "SELECT symbol, unrealized_pnl FROM open_positions"
                ).fetchall()
            }
            (daily,) = conn.execute("SELECT unrealized_pnl_last FROM daily_pnl").fetchall()
        shown = read_status(demo_settings(settings)).positions
        status = {p["symbol"]: Decimal(p["pnl"]) for p in shown}
        book = {
            p.symbol: unrealized_pnl(p, p.last_price, Session.REGULAR).unrealized.quantize(CENT)
            for p in report.positions
            if p.last_price is not None
        }
        assert views == status == book and set(book) == set(held), (views, status, book)
        assert Decimal(daily[0]).quantize(CENT) == sum(book.values())
    finally:
        stop()


def test_a_resumed_run_finds_its_stops_and_places_none(settings: Settings, redis_url: str) -> None:
    *_, stop = run_embedded(settings, redis_url=redis_url)
    stop()
    report, _broker, _client, stop = run_embedded(settings, redis_url=redis_url)
    try:
        assert report.startup.positions == 4  # NVDA and SNDL were closed by the first run
        assert report.startup.protected == 4 and report.startup.stops_to_place == []
    finally:
        stop()


def test_run_command_refuses_to_demo_on_a_real_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKTEST")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secret-not-shown")
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "never trades your account" in result.output
    assert "secret-not-shown" not in result.output


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKTEST")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secret-not-shown")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0
    assert "PROFIT_TARGET_1=0.20" in result.output
    assert "secret-not-shown" not in result.output and "PKTEST" not in result.output


def test_bad_config_exits_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIL_PERCENT_LARGE", "1.5")
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "TRAIL_PERCENT_LARGE" in result.output


def test_run_is_still_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKTEST")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secret-not-shown")
    assert CliRunner().invoke(app, ["run"]).exit_code == 2  # the hidden former name


def test_demo_command_end_to_end_on_a_private_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a newcomer types: no Redis, no keys; the demo starts and stops everything itself."""
    for name in ("REDIS_URL", "ALPACA_API_KEY", "ALPACA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIMULATOR_PORT", str(free_port()))
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "6 stops placed" in result.output
    assert "NVDA" in result.output and "Closed trades" in result.output
    # Every hint it prints works: the SQL one reads the warehouse the demo wrote ...
    hint = "sql --demo 'SELECT * FROM closed_trades'"
    assert hint in result.output
    shown = CliRunner().invoke(app, ["sql", "--demo", "SELECT count(*) AS n FROM closed_trades"])
    assert shown.exit_code == 0 and "2" in shown.output
    # ... and the UI's instance (DATA_DIR/dagster_home, what `ui` serves) holds the demo's run,
    # its materializations and its checks.
    assert "position-manager ui" in result.output
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        materialized = instance.get_latest_materialization_event(dg.AssetKey("risk_parameters"))
        assert materialized is not None and materialized.run_id == runs[0].run_id
        checks = instance.get_records_for_run(
            runs[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        assert checks, "no asset check evaluations recorded"
    bad = CliRunner().invoke(app, ["sql", "--demo", "SELECT * FROM no_such_table"])
    assert bad.exit_code == 1 and "query failed" in bad.output
