"""Alpaca's request budget (200 per minute per API key), shared by every caller in the process.

Alpaca counts requests per key, not per client object, so limiters are kept in a registry keyed by
a hash of the key: the worker, a Dagster job and a health probe in one process draw on one budget.
A moving window (a log of the last `limit` request times) never lets 200 requests bunch around a
minute boundary, which a fixed window would (up to 400 in a few seconds). It is a few lines of our
own rather than the `limits` library: its in-memory storage starts a timer thread on a request
whenever its last one has ended, so after any quiet moment every order paid for a new thread
before it could leave (~0.7 ms, benchmarks/bench_worker_latency.py).

Callers in the quote loop use `try_acquire()` (never sleeps); others use `acquire(timeout)`,
which waits at most `timeout` seconds and then raises `RateLimitedError`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from broker.errors import RateLimitedError
from position_manager.moving_window import MovingWindow

ALPACA_REQUESTS_PER_MINUTE = 200


class RateLimiter(MovingWindow):
    """A moving-window budget of `limit` requests per `per_seconds` seconds, with a waiting
    `acquire` for callers outside the quote loop."""

    def __init__(
        self,
        limit: int = ALPACA_REQUESTS_PER_MINUTE,
        per_seconds: int = 60,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(limit, per_seconds, clock=clock)
        self._sleep = sleep
        self.refused = 0  # requests refused or delayed past their deadline, for health reports

    def acquire(self, timeout: float) -> None:
        """Take one request, waiting at most `timeout` seconds (0: do not wait at all)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self.try_acquire():
            left = deadline - time.monotonic()
            if left <= 0:
                self.refused += 1
                raise RateLimitedError(
                    f"local rate limit of {self.limit} requests per {self.per_seconds}s reached; "
                    "retry later",
                )
            self._sleep(min(max(self.seconds_until_free(), 0.005), left))


_REGISTRY: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for_key(
    api_key: str, limit: int = ALPACA_REQUESTS_PER_MINUTE, per_seconds: int = 60
) -> RateLimiter:
    """The process-wide limiter for an API key (the key itself is hashed, never stored).

    The first caller's limit wins: one key has one budget, however many clients use it.
    """
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(digest)
        if limiter is None:
            limiter = RateLimiter(limit, per_seconds)
            _REGISTRY[digest] = limiter
        return limiter
