"""The simulator the tests run against, and the real adapter on it.

Two frozen clocks (speed 0, so tests decide when time moves):
- `REGULAR_OPEN_MORNING` (Monday 3 March 2025) for tests/broker and tests/simulator, through
  `adapter_simulator` and `make_broker` (each adapter gets its own rate limiter so tests never
  share a budget; retries wait milliseconds);
- `REGULAR_AT` (Tuesday 24 November 2026) for the worker harness (tests/book, tests/streaming and
  the pipelines' jobs), through `worker_simulator`.
`demo_book_simulator` is the pipelines' one-per-module simulator with the demo book open.
The fixtures built from these live in the conftest.py files.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from broker.alpaca_adapter import AlpacaBroker
from broker.rate_limit import RateLimiter
from broker.resilience import ResiliencePolicy
from simulator import SimulatorHandle, start_simulator
from simulator.config import EngineConfig, SimulatorConfig

# Monday 3 March 2025, 10:00 New York (EST): regular session.
REGULAR_OPEN_MORNING = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
# Tuesday 2026-11-24 10:00 New York: the regular session (the worker tests' frozen clock).
REGULAR_AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

FAST_POLICY = ResiliencePolicy(
    breaker_fail_max=5,
    breaker_reset_seconds=30,
    retry_attempts=3,
    retry_initial_wait=0.001,
    retry_max_wait=0.01,
    request_timeout=2.0,
)
_ids = itertools.count()


@contextmanager
def adapter_simulator(redis_url: str, **overrides: Any) -> Iterator[SimulatorHandle]:
    """A simulator on `redis_url`, its clock frozen in the regular session of 3 March 2025
    (`overrides`: more `SimulatorConfig` fields, e.g. `control_endpoints=True`)."""
    with start_simulator(
        lifecycle="instant",
        redis_url=redis_url,
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0.0,
        rate_limit=10_000,
        **overrides,
    ) as handle:
        yield handle


@contextmanager
def worker_simulator(redis_url: str) -> Iterator[SimulatorHandle]:
    """A simulator on `redis_url`, its clock frozen at `REGULAR_AT`, with a rate budget no
    worker test reaches."""
    engine = EngineConfig(lifecycle="realistic", accept_latency_s=0.0, fill_latency_s=0.0)
    with start_simulator(
        SimulatorConfig(engine=engine),
        lifecycle="realistic",
        redis_url=redis_url,
        rate_limit=100_000,
        clock_start=REGULAR_AT,
        clock_speed=0.0,
    ) as handle:
        yield handle


@contextmanager
def demo_book_simulator() -> Iterator[SimulatorHandle]:
    """A simulator on its defaults with the demo book open (SAMPLE_BOOK)."""
    with start_simulator(lifecycle="instant") as handle:
        handle.simulator.seed_positions()
        yield handle


def make_broker(
    handle: SimulatorHandle,
    *,
    limiter: RateLimiter | None = None,
    policy: ResiliencePolicy = FAST_POLICY,
    **kwargs: Any,
) -> AlpacaBroker:
    return AlpacaBroker(
        handle.api_key,
        handle.secret_key,
        base_url=handle.url,
        data_url=handle.url,
        rate_limiter=limiter or RateLimiter(10_000, 60),
        policy=policy,
        **kwargs,
    )


def unique_id(prefix: str = "test") -> str:
    return f"{prefix}-{next(_ids)}"
