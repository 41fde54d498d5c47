"""Alpaca's request budget (200 per minute per API key): the protocol every limiter keeps, and the
in-process limiter.

Alpaca counts requests per key, across every process that uses it, so the adapter's budget is
normally the shared one kept in Redis (`broker.shared_rate_limit`, built by `broker.factory`).
`RateLimiter` here is the in-process moving window: what tests and benchmarks pass explicitly,
and what the shared budget falls back to while Redis does not answer. A moving window (a log of
the last requests' times) never lets 200 requests bunch around a minute boundary, which a fixed
window would (up to 400 in a few seconds). It is a few lines of our own rather than the `limits`
library: its in-memory storage starts a timer thread on a request whenever its last one has
ended, so after any quiet moment every order paid for a new thread before it could leave
(~0.7 ms, benchmarks/bench_worker_latency.py).

Callers in the quote loop use `try_acquire()` (never sleeps); others use `acquire(timeout)`,
which waits at most `timeout` seconds and then raises `RateLimitedError`. Every answer's
`X-RateLimit-*` headers come back through `observe()` (`broker.http_session`): a 429, or
Remaining=0, refuses until the broker's Reset.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from broker.errors import RateLimitedError
from broker.rate_feedback import BrokerBudget, block_seconds
from position_manager.logging import log_kv
from position_manager.moving_window import MovingWindow

log = logging.getLogger(__name__)

ALPACA_REQUESTS_PER_MINUTE = 200


class RequestBudget(Protocol):
    """What the adapter's HTTP session needs from a limiter."""

    @property
    def limit(self) -> int: ...

    def try_acquire(self) -> bool:
        """Take one request if the budget has one; never waits."""
        ...

    def acquire(self, timeout: float) -> None:
        """Take one request, waiting at most `timeout` seconds, else `RateLimitedError`."""
        ...

    def observe(self, budget: BrokerBudget) -> None:
        """What an answer said about the budget (a 429, Remaining=0 until Reset, a lower
        limit, requests the broker counted that we did not)."""
        ...


def budget_digest(identity: str) -> str:
    """The name a budget goes by: a hash of the API key (and, for simulators, their URL), so
    neither a registry nor Redis ever holds the key itself."""
    return hashlib.sha256(f"position-manager/rate-budget\0{identity}".encode()).hexdigest()[:32]


def adopted_limit(configured: int, current: int, budget: BrokerBudget) -> int:
    """The limit to hold after an answer: ours, or the broker's when it reports less (a plan
    or a policy below the setting); back to ours when it reports more again."""
    if budget.limit is None:
        return current
    limit = min(configured, budget.limit)
    if limit != current:
        log_kv(
            log,
            logging.WARNING if limit < configured else logging.INFO,
            "rate limit follows the broker's",
            configured=configured,
            broker=budget.limit,
            now=limit,
        )
    return limit


def wait_for_budget(
    take: Callable[[], float],
    timeout: float,
    sleep: Callable[[float], None],
    refusal: Callable[[], str],
) -> None:
    """The waiting loop both limiters share: `take()` is 0 when a request was taken, else the
    seconds until one may be; gives up (`RateLimitedError(refusal())`) after `timeout`."""
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        wait = take()
        if wait <= 0:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise RateLimitedError(refusal())
        sleep(min(max(wait, 0.005), left))


class WaitingAcquire:
    """`acquire(timeout)` for a limiter that has `_take` (0: taken, else seconds to wait),
    `_refusal` (why it gave up), `_sleep` and a `refused` count."""

    refused: int
    _sleep: Callable[[float], None]

    def _take(self) -> float:
        raise NotImplementedError

    def _refusal(self) -> str:
        raise NotImplementedError

    def acquire(self, timeout: float) -> None:
        """Take one request, waiting at most `timeout` seconds (0: do not wait at all)."""
        try:
            wait_for_budget(self._take, timeout, self._sleep, self._refusal)
        except RateLimitedError:
            self.refused += 1
            raise


class RateLimiter(MovingWindow, WaitingAcquire):
    """A moving-window budget of `limit` requests per `per_seconds` seconds in this process,
    with a waiting `acquire` and the broker's feedback."""

    def __init__(
        self,
        limit: int = ALPACA_REQUESTS_PER_MINUTE,
        per_seconds: int = 60,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(limit, per_seconds, clock=clock)
        self.configured_limit = limit  # `limit` is lowered while the broker reports less
        self._sleep = sleep
        self._blocked_until = 0.0  # on `clock`: the broker said nothing is left until then
        self.refused = 0  # requests refused or delayed past their deadline, for health reports

    def try_acquire(self, limit: int | None = None) -> bool:
        if self.blocked_for() > 0:
            return False
        return super().try_acquire(limit)

    def blocked_for(self) -> float:
        """Seconds left of the broker's block (0: none)."""
        return max(self._blocked_until - self._clock(), 0.0)

    def _take(self) -> float:
        if self.try_acquire():
            return 0.0
        return max(self.blocked_for(), self.seconds_until_free(), 0.005)

    def _refusal(self) -> str:
        if self.blocked_for() > 0:
            return "the broker said the rate budget is spent until its reset; retry later"
        return (
            f"local rate limit of {self.limit} requests per {self.per_seconds}s reached; "
            "retry later"
        )

    def block_for(self, seconds: float) -> None:
        """Refuse every request for `seconds` (never shortens a block already in place)."""
        if seconds > 0:
            with self._lock:
                self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def observe(self, budget: BrokerBudget) -> None:
        self.limit = adopted_limit(self.configured_limit, self.limit, budget)
        self.block_for(block_seconds(budget, time.time(), cap=self.per_seconds))
        used = budget.used
        if used is not None:
            # Requests the broker counted that this window did not (another client on the key):
            # logged now, so they leave our window no sooner than the broker's.
            for _ in range(used - self.used()):
                self.record()


_REGISTRY: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for_key(
    api_key: str, limit: int = ALPACA_REQUESTS_PER_MINUTE, per_seconds: int = 60
) -> RateLimiter:
    """The process-wide in-process limiter for an API key (hashed, never stored): for an
    adapter built without a shared budget. The first caller's limit wins."""
    digest = budget_digest(api_key)
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(digest)
        if limiter is None:
            limiter = RateLimiter(limit, per_seconds)
            _REGISTRY[digest] = limiter
        return limiter
