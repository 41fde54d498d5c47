"""Build the adapter from settings: the embedded simulator, or Alpaca itself.

    broker = build_broker(settings)                    # Alpaca (keys in settings)
    broker = build_broker(settings, base_url=sim.url)  # the simulator (its keys by default)

With the simulator the trading and data URLs are both `base_url` (it serves both APIs).

Unless a `rate_limiter` is given, the broker draws on the API key's budget kept in Redis
(`broker.shared_rate_limit`): `redis_url`, or the one the settings name. Every process that
builds a broker for the same key and the same Redis (the worker, its restarts, Dagster runs)
shares that one budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.alpaca_adapter import AlpacaBroker
from broker.rate_limit import RequestBudget
from broker.resilience import ResiliencePolicy
from broker.shared_rate_limit import shared_budget
from position_manager.config import BrokerKind, Settings
from position_manager.errors import ConfigError
from position_manager.local_redis import configured_url
from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY


def build_broker(
    settings: Settings,
    base_url: str | None = None,
    *,
    redis_url: str | None = None,
    policy: ResiliencePolicy | None = None,
    rate_limiter: RequestBudget | None = None,
    rate_limit_wait: float = 10.0,
    on_breaker_change: Callable[[str | None, str], None] | None = None,
) -> AlpacaBroker:
    """An `AlpacaBroker` for `settings.broker_kind`.

    Simulator: `base_url` (the running simulator's `.url`) is required; the simulator's fixed keys
    are used unless Alpaca keys are set. Alpaca: keys from settings; `base_url` or
    ALPACA_BASE_URL overrides the paper/live endpoint, ALPACA_DATA_URL the data endpoint.
    `redis_url`: where the shared rate budget lives (default: the settings' Redis).
    """
    common: dict[str, Any] = {
        "rate_limit_per_minute": settings.alpaca_rate_limit_per_minute,
        "rate_limit_wait": rate_limit_wait,
        "policy": policy,
        "on_breaker_change": on_breaker_change,
        "data_feed": settings.alpaca_data_feed,
    }

    def budget(identity: str) -> RequestBudget:
        if rate_limiter is not None:
            return rate_limiter
        return shared_budget(
            redis_url or configured_url(settings),
            identity,
            settings.alpaca_rate_limit_per_minute,
            fallback_share=float(settings.alpaca_rate_limit_fallback_share),
        )

    if settings.broker_kind is BrokerKind.SIMULATOR:
        if base_url is None:
            raise ConfigError(
                "the simulator broker needs its URL: start it with "
                "simulator.start_simulator() and pass handle.url as base_url"
            )
        # Each simulator counts its own budget, so the shared one is per simulator URL.
        limiter = budget(f"{SIMULATOR_API_KEY}@{base_url.rstrip('/')}")
        return AlpacaBroker(
            SIMULATOR_API_KEY,
            SIMULATOR_SECRET_KEY,
            base_url=base_url,
            data_url=base_url,
            rate_limiter=limiter,
            **common,
        )
    if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    api_key = settings.alpaca_api_key.get_secret_value()
    return AlpacaBroker(
        api_key,
        settings.alpaca_secret_key.get_secret_value(),
        base_url=base_url or settings.alpaca_base_url,
        data_url=settings.alpaca_data_url,
        paper=settings.alpaca_paper,
        rate_limiter=budget(api_key),
        **common,
    )
