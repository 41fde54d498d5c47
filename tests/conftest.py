"""Fixtures every test uses: a real redis-server per test session, a clean database per test,
a temp DuckDB file and settings pointing at both, the simulator with the real adapter on it, and
the worker harness on a simulator of its own clock. No fakes; the helpers are in tests/support."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.alpaca_adapter import AlpacaBroker
from position_manager.config import ENV_FILE_VARIABLE, Settings, load_settings
from position_manager.local_redis import RedisServer, free_port
from simulator import SimulatorHandle
from tests.support.simulator import adapter_simulator, make_broker, worker_simulator
from tests.support.worker_harness import Harness

# No dotenv file for the suite or the processes it starts: a developer's ./.env may hold real
# Alpaca keys (tests of the dotenv file itself set PM_ENV_FILE to a file of their own).
os.environ[ENV_FILE_VARIABLE] = ""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server on a free port for the whole test session."""
    server = RedisServer(port=free_port(), directory=tmp_path_factory.mktemp("redis"))
    server.start(appendonly=False)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, flushed before each test so tests never see each other."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    """A fresh DuckDB file path in a temp dir (the file is created by whoever opens it)."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Embedded-default settings on the test's Redis and a temp data dir; no keys, simulator."""
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPHA_VANTAGE_API_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    # A free simulator port: never the shared embedded one a developer may have running.
    return load_settings(
        redis_url=redis_url, data_dir=tmp_path / "data", simulator_port=free_port()
    )


# --- the simulator over HTTP and the real adapter (tests/broker, tests/simulator) -----------
@pytest.fixture
def sim(redis_url: str) -> Iterator[SimulatorHandle]:
    """A simulator on the test's Redis, its clock frozen in the regular session."""
    with adapter_simulator(redis_url) as handle:
        yield handle


@pytest.fixture
def broker(sim: SimulatorHandle) -> AlpacaBroker:
    return make_broker(sim)


# --- the worker run step by step (tests/book, tests/streaming, tests/pipelines' jobs) --------
@pytest.fixture
def worker_sim(redis_url: str) -> Iterator[SimulatorHandle]:
    """A simulator on the test's Redis, its clock frozen at `REGULAR_AT` (2026-11-24)."""
    with worker_simulator(redis_url) as handle:
        yield handle


@pytest.fixture
def harness(
    settings: Settings, worker_sim: SimulatorHandle, redis_client: redis.Redis, redis_url: str
) -> Iterator[Harness]:
    h = Harness(settings, worker_sim, redis_client, redis_url)
    yield h
    h.close()
