"""`position-manager status` against a real Redis and a real worker (the scenario harness):
healthy only when a live worker says so and every held symbol is quoted in the regular session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
from typer.testing import CliRunner

from app.cli import app
from app.status import read_status
from position_manager.config import Settings
from simulator import SimulatorHandle
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params


def status(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    result = CliRunner().invoke(app, ["status", "--json"])
    return result.exit_code, json.loads(result.output)


@pytest.fixture
def quick_stale(
    settings: Settings, worker_sim: SimulatorHandle, redis_client: redis.Redis, redis_url: str
) -> Iterator[Harness]:
    """The harness with STALE_DATA_SECONDS at 1: a held symbol unquoted for a second is stale."""
    quick = settings.model_copy(update={"stale_data_seconds": 1})
    h = Harness(quick, worker_sim, redis_client, redis_url)
    yield h
    h.close()


def hold_aapl(h: Harness) -> None:
    risk_params(h.client, "AAPL")
    h.start("REGULAR")
    h.approve("AAPL", "buy", 10, "100")
    h.broker_step()  # the stop lands: `new` at the broker
    h.quote("AAPL", "101")  # it trails: a replace, landing at the broker's next step
    h.broker_step()
    assert h.worker is not None
    h.worker.housekeeping.tick(force=True)


def test_a_quoted_protected_book_is_healthy(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    hold_aapl(harness)
    code, report = status(monkeypatch, redis_url)
    assert code == 0, report
    assert report["healthy"] is True and report["problems"] == []
    health = report["health"]
    assert isinstance(health, dict)
    assert health["positions_count"] == "1" and health["active_stops"] == "1"
    assert health["market_session"] == "REGULAR" and health["last_update"] != ""
    assert health["redis_connected"] == "true" and health["alpaca_connected"] == "true"
    positions = report["positions"]
    assert isinstance(positions, list)
    assert [(p["symbol"], p["qty"], p["protection"]) for p in positions] == [
        ("AAPL", "10", "protected")
    ]


def test_a_held_symbol_without_quotes_in_the_regular_session_is_not_healthy(
    quick_stale: Harness, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    hold_aapl(quick_stale)
    worker = quick_stale.worker
    assert worker is not None

    def stale() -> bool:
        worker.housekeeping.tick(force=True)
        return not read_status(quick_stale.settings).healthy

    wait_until(stale, 5, "the worker never reported the missing quotes")
    code, report = status(monkeypatch, redis_url)
    assert code == 1
    assert report["problems"] == ["no quote in the regular session for AAPL"]
    assert isinstance(report["health"], dict) and report["health"]["status"] == "stale"
    # A quote makes it healthy again.
    quick_stale.quote("AAPL", "101.5")
    worker.housekeeping.tick(force=True)
    assert status(monkeypatch, redis_url)[0] == 0


def test_outside_the_regular_session_no_quote_is_expected(
    quick_stale: Harness, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    risk_params(quick_stale.client, "AAPL")
    quick_stale.start("CLOSED")
    quick_stale.approve("AAPL", "buy", 10, "100")
    worker = quick_stale.worker
    assert worker is not None
    since = worker.housekeeping.watching_since

    def a_second_passed() -> bool:  # beyond STALE_DATA_SECONDS without a quote
        worker.housekeeping.tick(force=True)
        updated = read_status(quick_stale.settings).health.get("updated_at", "")
        return bool(updated) and (datetime.fromisoformat(updated) - since).total_seconds() > 1.5

    wait_until(a_second_passed, 5, "no health written after the stale threshold")
    code, report = status(monkeypatch, redis_url)
    assert code == 0, report


def test_no_worker_is_not_healthy(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    code, report = status(monkeypatch, redis_url)
    assert code == 1
    assert report["problems"] == ["no worker heartbeat: the worker is not running"]


def test_a_stopped_worker_is_not_healthy(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    hold_aapl(harness)
    assert harness.worker is not None
    stop = threading.Event()
    stop.set()
    harness.worker.run(stop)  # the worker's own way out: leases released, health "stopped"
    code, report = status(monkeypatch, redis_url)
    assert code == 1 and report["problems"] == ["no worker heartbeat: the worker is not running"]
    assert isinstance(report["health"], dict) and report["health"]["status"] == "stopped"


def test_status_without_redis_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from position_manager.local_redis import free_port

    code, report = status(monkeypatch, f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1 and "Redis does not answer" in str(report["problems"])
