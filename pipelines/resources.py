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
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import redis
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from broker.interface import Broker
from pipelines.lib.alpha_vantage import AlphaVantageClient
from pipelines.lib.profiles import load_overrides_file, parse_overrides_env
from position_manager.config import BrokerKind, Settings, load_settings
from position_manager.errors import RedisUnavailableError
from position_manager.redis_url import configured_url, credentials_refused, unreachable_reason
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
    """Builds the broker adapter (`broker.factory.build_broker`) from the settings, so no key ever
    sits in resource config (which the UI shows). Its rate budget is the API key's one in Redis,
    shared with the worker and every other run (`broker.shared_rate_limit`).

    With the simulator and no `base_url`, the shared embedded simulator on SIMULATOR_PORT is used
    (the worker's), or started for the run and stopped afterwards (the demo book opened in it when
    it is empty and `seed_demo_book`); pass `base_url` to use a specific one.
    """

    pm_config: PipelineConfigResource
    base_url: str | None = None
    seed_demo_book: bool = True
    # Where the API key's shared rate budget lives (the worker's Redis); None: the settings'.
    redis_url: str | None = None

    _broker: Any = PrivateAttr(default=None)
    _simulator: Any = PrivateAttr(default=None)

    @property
    def kind(self) -> str:
        return self.pm_config.settings().broker_kind.value

    def get_broker(self) -> Broker:
        if self._broker is None:
            self._broker = self._build()
        broker: Broker = self._broker
        return broker

    def _build(self) -> Broker:
        # Imported lazily: loading the code location needs neither alpaca-py nor the simulator.
        from broker.factory import build_broker

        settings = self.pm_config.settings()
        base_url = self.base_url
        if settings.broker_kind is BrokerKind.SIMULATOR and base_url is None:
            from simulator.embedded import ensure_simulator

            # The worker's simulator when one is running (same SIMULATOR_PORT), else one for
            # this run on that port, with the same snapshot file.
            base_url, self._simulator = ensure_simulator(
                settings, configured_url(settings), seed_demo_book=self.seed_demo_book
            )
        return build_broker(settings, base_url, redis_url=self.redis_url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None
        self._broker = None


class AlphaVantageResource(dg.ConfigurableResource):
    """Alpha Vantage access from the settings (key, URL, cache TTLs, cache under DATA_DIR).
    `client()` is None without ALPHA_VANTAGE_API_KEY: the assets then use the sample source."""

    pm_config: PipelineConfigResource
    timeout_seconds: float = 20.0

    def client(self) -> AlphaVantageClient | None:
        settings = self.pm_config.settings()
        if settings.alpha_vantage_api_key is None:
            return None
        return AlphaVantageClient(
            api_key=settings.alpha_vantage_api_key.get_secret_value(),
            base_url=settings.alpha_vantage_url,
            cache_dir=settings.data_dir / "alpha_vantage",
            overview_cache_seconds=settings.profile_cache_days * 86_400,
            earnings_cache_seconds=settings.earnings_cache_ttl,
            timeout_seconds=self.timeout_seconds,
        )


class RedisResource(dg.ConfigurableResource):
    """The Redis the streaming worker reads its risk parameters from: `url` when given, else the
    settings' REDIS_URL / REDIS_HOST:REDIS_PORT (kept out of resource config: it may hold a
    password)."""

    pm_config: PipelineConfigResource
    url: str | None = None

    @contextlib.contextmanager
    def get_client(self) -> Iterator[redis.Redis]:
        url = self.url or configured_url(self.pm_config.settings())
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        failure: Exception | None = None
        try:
            client.ping()
        except (redis.AuthenticationError, redis.exceptions.NoPermissionError):
            failure = credentials_refused(url)
        except redis.RedisError as exc:
            failure = RedisUnavailableError(
                f"cannot reach Redis to publish risk parameters: {unreachable_reason(url, exc)}; "
                "start the stack with `position-manager run`, or set REDIS_URL"
            )
        if failure is not None:  # raised outside the handler: no context holding the URL
            client.close()
            raise failure
        try:
            yield client
        finally:
            client.close()


def embedded_resources(
    settings: Settings,
    *,
    broker_url: str | None = None,
    redis_url: str | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    """No keys needed: the simulator (started per run unless `broker_url` points at a running
    one), the sample profile/earnings source unless an Alpha Vantage key is set, local Redis."""
    pm_config = PipelineConfigResource(settings_overrides=overrides or {})
    return {
        "pm_config": pm_config,
        "duckdb": WarehouseResource(database=str(settings.warehouse_path)),
        "broker": BrokerResource(pm_config=pm_config, base_url=broker_url, redis_url=redis_url),
        "alpha_vantage": AlphaVantageResource(pm_config=pm_config),
        "redis": RedisResource(pm_config=pm_config, url=redis_url),
    }


def alpaca_resources(
    settings: Settings, *, redis_url: str | None = None, overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    """Real Alpaca (paper unless ALPACA_PAPER=false and ALPACA_ALLOW_LIVE=true): the same
    resources, with the broker built from the Alpaca keys in the environment."""
    resources = embedded_resources(settings, redis_url=redis_url, overrides=overrides)
    resources["broker"] = BrokerResource(
        pm_config=resources["pm_config"], seed_demo_book=False, redis_url=redis_url
    )
    return resources


def resources_for(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    """The environment the settings select: Alpaca with keys, the embedded default without."""
    if settings.broker_kind is BrokerKind.ALPACA:
        kwargs.pop("broker_url", None)
        return alpaca_resources(settings, **kwargs)
    return embedded_resources(settings, **kwargs)
