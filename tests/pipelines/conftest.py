"""Fixtures for the pipeline tests.

- Assets: a local Alpha Vantage stand-in, and one simulator per module with the demo book open.
- Jobs, schedules and sensors (history, protection): a real Dagster instance (temp DAGSTER_HOME),
  the simulator over HTTP with its order events on the test's Redis (`worker_sim`, the worker
  harness's, from tests/conftest.py), and resources built the way the code location builds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import redis

from pipelines.resources import (
    BrokerResource,
    PipelineConfigResource,
    RedisResource,
    WarehouseResource,
    embedded_resources,
)
from position_manager import events, redis_schema
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide
from position_manager.config import Settings
from position_manager.market_calendar import NEW_YORK
from simulator import SimulatorHandle
from tests.pipelines.av_standin import AlphaVantageStandIn, serve_alpha_vantage
from tests.support.redis_reads import event_data
from tests.support.simulator import demo_book_simulator


@pytest.fixture
def alpha_vantage() -> Iterator[AlphaVantageStandIn]:
    with serve_alpha_vantage() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    """One local Alpaca simulator per module, with the demo book open (SAMPLE_BOOK)."""
    with demo_book_simulator() as handle:
        yield handle


@pytest.fixture
def pipeline_env(settings: Settings, simulator: SimulatorHandle) -> PipelineEnv:
    """Embedded resources on the test's Redis, temp data dir and the module's simulator."""
    return PipelineEnv(settings, simulator.url)


class PipelineEnv:
    """Builds resources for a test, with settings overrides applied consistently."""

    def __init__(self, settings: Settings, broker_url: str | None) -> None:
        self.settings = settings
        self.broker_url = broker_url
        self.overrides: dict[str, str] = {
            "data_dir": str(settings.data_dir),
            "redis_url": settings.redis_url.get_secret_value() if settings.redis_url else "",
            "watchlist": "KO,ZZZZ",
        }

    def resources(self, **overrides: str) -> dict[str, Any]:
        return embedded_resources(
            self.settings,
            broker_url=self.broker_url,
            overrides={**self.overrides, **overrides},
        )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as dagster_instance:
        yield dagster_instance


class Env:
    """Resources as the code location builds them, plus helpers to look at the results."""

    def __init__(
        self, settings: Settings, sim: SimulatorHandle, redis_url: str, duckdb_path: Path
    ) -> None:
        self.sim = sim
        self.client = redis.Redis.from_url(redis_url)
        self.duckdb_path = duckdb_path
        self.pm_config = PipelineConfigResource(
            settings_overrides={
                "data_dir": str(settings.data_dir),
                "redis_url": redis_url,
                "alpaca_rate_limit_per_minute": "10000",
            }
        )
        self.resources: dict[str, Any] = {
            "pm_config": self.pm_config,
            "duckdb": WarehouseResource(database=str(duckdb_path), lock_wait_seconds=0.2),
            "broker": BrokerResource(pm_config=self.pm_config, base_url=sim.url),
            "redis": RedisResource(pm_config=self.pm_config, url=redis_url),
        }
        self.broker = self.resources["broker"].get_broker()

    # --- arranging ------------------------------------------------------------------------
    def hold(self, symbol: str, qty: int, price: str) -> None:
        p = Decimal(price)
        self.sim.simulator.seed_positions([(symbol, Decimal(qty), p)], {symbol: p})

    def stop_order(self, symbol: str, qty: int, stop: str, client_id: str) -> str:
        order = self.broker.submit_order(
            OrderRequest(symbol, OrderSide.SELL, Decimal(qty), OrderKind.STOP, client_id,
                         stop_price=Decimal(stop))
        )  # fmt: skip
        return order.id

    def session(self, name: str) -> None:
        self.client.set(redis_schema.SESSION_KEY, name)

    def worker_alive(self) -> None:
        self.client.set(redis_schema.WORKER_HEARTBEAT_KEY, datetime.now(UTC).isoformat(), ex=15)

    def risk(self, symbol: str, report: date | None, as_of: datetime | None = None) -> None:
        self.client.hset(
            redis_schema.RISK_PARAMS_KEY.format(symbol=symbol),
            mapping={
                "symbol": symbol,
                "cap_class": "large",
                "atr": "2",
                "next_report_date": report.isoformat() if report else "",
                "as_of": (as_of or datetime.now(UTC)).isoformat(),
            },
        )

    # --- looking --------------------------------------------------------------------------
    def stops(self, symbol: str) -> list[Any]:
        return [o for o in self.broker.list_open_orders() if o.symbol == symbol and o.kind.is_stop]

    def qty(self, symbol: str) -> Decimal:
        position = self.broker.get_position(symbol)
        return position.qty if position else Decimal(0)

    def events(self, name: str, stream: str = events.POSITIONS_STREAM) -> list[dict[str, Any]]:
        return event_data(self.client, name, stream)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as conn:
            return conn.execute(query).fetchall()

    # --- Dagster ----------------------------------------------------------------------------
    def tick(
        self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None
    ) -> Any:
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=self.resources
        ) as context:
            return sensor.evaluate_tick(context)

    def launch(
        self, job: dg.JobDefinition, instance: dg.DagsterInstance, request: dg.RunRequest
    ) -> dg.ExecuteInProcessResult:
        """What the daemon does with a run request: one run, with its key and config."""
        return job.execute_in_process(
            run_config=request.run_config,
            instance=instance,
            resources=self.resources,
            tags={**request.tags, "dagster/run_key": request.run_key or ""},
        )

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def env(
    settings: Settings, worker_sim: SimulatorHandle, redis_url: str, duckdb_path: Path
) -> Iterator[Env]:
    e = Env(settings, worker_sim, redis_url, duckdb_path)
    yield e
    e.close()


def new_york_today() -> date:
    return datetime.now(NEW_YORK).date()


def step_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, Any]:
    """The op output's metadata, as plain values."""
    for event in result.events_for_node(op):
        if event.event_type_value == "STEP_OUTPUT":
            # dagster types event_specific_data as the union of every event's data
            metadata = event.event_specific_data.metadata  # type: ignore[union-attr]
            return {k: getattr(v, "value", v) for k, v in metadata.items()}
    raise AssertionError(f"no output for {op}")
