"""The real adapter against a real simulator over HTTP, on a frozen Monday morning.

Shared by tests/broker (the adapter) and tests/simulator (the simulator, driven through the
adapter); the `sim` and `broker` fixtures built from these live in tests/conftest.py.
The clock is frozen (speed 0) inside the regular session so tests decide when time moves; each
adapter gets its own rate limiter so tests never share a budget; retries wait milliseconds.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from broker.alpaca_adapter import AlpacaBroker
from broker.rate_limit import RateLimiter
from broker.resilience import ResiliencePolicy
from simulator import SimulatorHandle

# Monday 3 March 2025, 10:00 New York (EST): regular session.
REGULAR_OPEN_MORNING = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
FAST_POLICY = ResiliencePolicy(
    breaker_fail_max=5,
    breaker_reset_seconds=30,
    retry_attempts=3,
    retry_initial_wait=0.001,
    retry_max_wait=0.01,
    request_timeout=2.0,
)
_ids = itertools.count()


def make_broker(
    handle: SimulatorHandle,
    *,
    limiter: RateLimiter | None = None,
    policy: ResiliencePolicy = FAST_POLICY,
    **kwargs: object,
) -> AlpacaBroker:
    return AlpacaBroker(
        handle.api_key,
        handle.secret_key,
        base_url=handle.url,
        data_url=handle.url,
        rate_limiter=limiter or RateLimiter(10_000, 60),
        policy=policy,
        **kwargs,  # type: ignore[arg-type]
    )


def unique_id(prefix: str = "test") -> str:
    return f"{prefix}-{next(_ids)}"
