"""Dagster resources, and one resources dict per environment: `embedded` or `alpaca`.

- `pm_config`: the project's `Settings` (read from the environment, plus explicit overrides) and
  the per-symbol market cap overrides.
- `broker`: builds a `broker.interface.Broker`. In the embedded environment with no `base_url`, it
  starts the local Alpaca simulator in-process for the run and stops it afterwards.
- `alpha_vantage`: an `AlphaVantageClient`, or `None` without a key (assets then use the sample).
- `redis`: where risk parameters are published for the streaming worker.
- `duckdb`: `WarehouseResource`, a `DuckDBResource` whose connections are migrated and fail fast
  with `WarehouseBusyError` when another process holds the file (instead of ~100 s of retries).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
import redis
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from broker.interface import Broker
from pipelines.alpha_vantage import AlphaVantageClient
from pipelines.profiles import load_overrides_file, parse_overrides_env
from position_manager.config import BrokerKind, Settings, load_settings
from position_manager.errors import RedisUnavailableError
from warehouse.connection import DEFAULT_LOCK_WAIT_SECONDS, connect


class WarehouseResource(DuckDBResource):
    """The warehouse file. Only assets and jobs that write should use it (one writer, pool
    `duckdb`); anything else reads Redis or the broker."""

    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = connect(self.database, lock_wait_seconds=self.lock_wait_seconds)
        try:
            yield conn
        finally:
            conn.close()


class PipelineConfigResource(dg.ConfigurableResource):
    """The project's settings as the pipeline sees them.

    `settings_overrides` take precedence over the environment (tests and the `run` command pass
    data_dir, watchlist, ...). Market cap overrides merge, later wins: the YAML file
    (`market_cap_overrides_file`, default `<DATA_DIR>/symbol_overrides.yaml`), the
    `MARKET_CAP_OVERRIDES` variable, then `market_cap_overrides`.
    """

    settings_overrides: dict[str, str] = Field(default_factory=dict)
    market_cap_overrides: dict[str, float] = Field(default_factory=dict)
    market_cap_overrides_file: str | None = None

    def settings(self) -> Settings:
        return load_settings(**self.settings_overrides)

    def market_caps(self) -> dict[str, float]:
        settings = self.settings()
        path = Path(self.market_cap_overrides_file or settings.data_dir / "symbol_overrides.yaml")
        merged = load_overrides_file(path)
        merged.update(parse_overrides_env(os.environ.get("MARKET_CAP_OVERRIDES", "")))
        merged.update({k.upper(): float(v) for k, v in self.market_cap_overrides.items()})
        return merged


class BrokerResource(dg.ConfigurableResource):
    """Builds the broker adapter. `kind="simulator"` without `base_url` starts a local simulator
    for the duration of the run (its book under `data_dir`)."""

    kind: Literal["simulator", "alpaca"] = "simulator"
    base_url: str | None = None
    data_url: str | None = None
    api_key: str | None = None
    secret_key: str | None = None
    paper: bool = True
    data_dir: str = "./data"

    _broker: Any = PrivateAttr(default=None)
    _simulator: Any = PrivateAttr(default=None)

    def get_broker(self) -> Broker:
        if self._broker is None:
            self._broker = self._build()
        broker: Broker = self._broker
        return broker

    def _build(self) -> Broker:
        # Imported lazily: loading the code location must not need alpaca-py or a simulator.
        factory = importlib.import_module("broker.factory")
        base_url = self.base_url
        if self.kind == "simulator" and base_url is None:
            simulator = importlib.import_module("broker.simulator")
            self._simulator = simulator.start_simulator(data_dir=Path(self.data_dir))
            base_url = self._simulator.url
        built: Broker = factory.build_broker(
            kind=self.kind,
            base_url=base_url,
            data_url=self.data_url or base_url,
            api_key=self.api_key,
            secret_key=self.secret_key,
            paper=self.paper,
        )
        return built

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None
        self._broker = None


class AlphaVantageResource(dg.ConfigurableResource):
    """Alpha Vantage access; `client()` is None without an API key (the sample source applies)."""

    api_key: str | None = None
    base_url: str = "https://www.alphavantage.co/query"
    cache_dir: str = "./data/alpha_vantage"
    overview_cache_days: int = 7
    earnings_cache_ttl_seconds: int = 86_400
    timeout_seconds: float = 20.0

    def client(self) -> AlphaVantageClient | None:
        if not self.api_key:
            return None
        return AlphaVantageClient(
            api_key=self.api_key,
            base_url=self.base_url,
            cache_dir=Path(self.cache_dir),
            overview_cache_seconds=self.overview_cache_days * 86_400,
            earnings_cache_seconds=self.earnings_cache_ttl_seconds,
            timeout_seconds=self.timeout_seconds,
        )


class RedisResource(dg.ConfigurableResource):
    """The Redis the streaming worker reads its risk parameters from."""

    url: str

    @contextlib.contextmanager
    def get_client(self) -> Iterator[redis.Redis]:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise RedisUnavailableError(
                f"cannot reach Redis to publish risk parameters ({type(exc).__name__}): start "
                "the stack with `position-manager run`, or set REDIS_URL"
            ) from None
        try:
            yield client
        finally:
            client.close()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _redis_url(settings: Settings) -> str:
    from position_manager.local_redis import configured_url

    return configured_url(settings)


def _common(settings: Settings, overrides: dict[str, str]) -> dict[str, Any]:
    return {
        "pm_config": PipelineConfigResource(settings_overrides=overrides),
        "duckdb": WarehouseResource(database=str(settings.warehouse_path)),
        "alpha_vantage": AlphaVantageResource(
            api_key=_secret(settings.alpha_vantage_api_key),
            base_url=settings.alpha_vantage_url,
            cache_dir=str(settings.data_dir / "alpha_vantage"),
            overview_cache_days=settings.profile_cache_days,
            earnings_cache_ttl_seconds=settings.earnings_cache_ttl,
        ),
        "redis": RedisResource(url=_redis_url(settings)),
    }


def embedded_resources(
    settings: Settings, *, broker_url: str | None = None, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """No keys needed: the simulator (started per run unless `broker_url` points at a running
    one), the sample profile/earnings source unless an Alpha Vantage key is set, local Redis."""
    resources = _common(settings, overrides or {})
    resources["broker"] = BrokerResource(
        kind="simulator", base_url=broker_url, data_dir=str(settings.data_dir)
    )
    return resources


def alpaca_resources(
    settings: Settings, *, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """Real Alpaca (paper unless ALPACA_PAPER=false and ALPACA_ALLOW_LIVE=true)."""
    resources = _common(settings, overrides or {})
    resources["broker"] = BrokerResource(
        kind="alpaca",
        base_url=settings.alpaca_base_url,
        data_url=settings.alpaca_data_url,
        api_key=_secret(settings.alpaca_api_key),
        secret_key=_secret(settings.alpaca_secret_key),
        paper=settings.alpaca_paper,
        data_dir=str(settings.data_dir),
    )
    return resources


def resources_for(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    """The environment the settings select: Alpaca with keys, the embedded default without."""
    if settings.broker_kind is BrokerKind.ALPACA:
        return alpaca_resources(settings, **kwargs)
    return embedded_resources(settings, **kwargs)
