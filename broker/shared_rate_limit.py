"""One request budget per API key, shared by every process that uses the key.

Alpaca counts requests per key, not per process: the worker, its restarts and every Dagster run
draw on the same 200 a minute. An in-process window gave each of them its own budget (207
requests in one rolling minute under faults, 429s during a crash run), so the budget lives in
Redis, which all of them already share:

- A moving-window log in a sorted set (`position_manager.redis_schema.rate_budget_keys`): one
  member per request, scored by Redis `TIME` in microseconds, so every process, on any host,
  reads one clock. A request is taken only while fewer than `limit` members are younger than
  the window, which holds "never more than `limit` in any rolling window" exactly.
- One Lua script (`register_script`: EVALSHA, loaded again if Redis forgot it) trims, checks the
  broker's block, counts and adds atomically, in a single round trip: `try_acquire()` is one
  EVALSHA (p50 0.13-0.21 ms on a local Redis on a busy 2-core machine, about a PING's round
  trip plus ~30 us of script; benchmarks/bench_worker_latency.py prints it).
- The broker's answers feed back (`observe`, from the HTTP session's response hook): a 429, or
  Remaining=0, sets a block key that expires at the broker's Reset, and every process refuses
  until then; requests the broker counted that the window did not (another client on the key)
  are added to the window.

Why not a library: `limits` (its Redis moving window) and `pyrate-limiter` fit the log part, but
both stamp requests with the calling host's clock, and neither can check the broker's block or
add what the broker counted in the same atomic call, which would cost a second round trip in
the quote loop; the script is ~30 lines of Lua.

When Redis does not answer (a connect or reply timeout of 0.25 s, or any Redis error), the budget
falls back to an in-process window at `fallback_share` of the limit (a quarter by default: the
worker and a few Dagster runs may be cut off at once), logs it once (WARNING), reports it
(`shared` is False, `status()`), and asks Redis again after `redis_retry_seconds`. Every request
this process takes, shared or not, is also logged in that window, so a fallback starts from what
this process really sent. Never unlimited, never an exception out of `try_acquire()`.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from broker.rate_feedback import BrokerBudget, block_seconds
from broker.rate_limit import RateLimiter, WaitingAcquire, adopted_limit, budget_digest
from position_manager.logging import log_kv
from position_manager.redis_schema import rate_budget_keys

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 0.25  # the quote loop may wait this long once before falling back
REDIS_RETRY_SECONDS = 5.0  # how long the fallback lasts before Redis is asked again

# KEYS: window, block. ARGV: limit, window (us), member.
# Returns {1, remaining, now_us} when taken, {0, 0, wait_ms} when refused.
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return {0, 0, blocked}
end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
  return {0, 0, math.ceil((tonumber(oldest[2]) + window - now) / 1000)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, limit - used - 1, now}
"""

# KEYS: window, block. ARGV: window (us), requests the broker counted (-1: unknown),
# block (ms, 0: none), member prefix. Returns how many requests were added to the window.
OBSERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local block = tonumber(ARGV[3])
if block > 0 and redis.call('PTTL', KEYS[2]) < block then
  redis.call('SET', KEYS[2], '1', 'PX', block)
end
local broker_used = tonumber(ARGV[2])
if broker_used < 0 then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local missing = broker_used - redis.call('ZCARD', KEYS[1])
for i = 1, missing do
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
end
if missing > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
end
return math.max(missing, 0)
"""


def budget_client(redis_url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> redis.Redis:
    """A client that fails fast: short timeouts, and no retries (redis-py retries a failed
    connection three times with backoff by default, which the quote loop cannot afford)."""
    return redis.Redis.from_url(
        redis_url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class SharedRateLimiter(WaitingAcquire):
    """`limit` requests per `per_seconds` for the budget named `digest`, across processes.

    `digest` is `broker.rate_limit.budget_digest(...)` of the API key: the Redis keys carry it,
    never the key. Thread-safe. Implements `broker.rate_limit.RequestBudget`.
    """

    def __init__(
        self,
        client: redis.Redis,
        digest: str,
        limit: int,
        per_seconds: int = 60,
        *,
        fallback_share: float = 0.25,
        redis_retry_seconds: float = REDIS_RETRY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < fallback_share < 1:
            raise ValueError("the fallback share must be a fraction of the budget")
        self.configured_limit = limit
        self.limit = limit  # lowered when the broker reports a lower one
        self.per_seconds = per_seconds
        self.fallback_share = fallback_share
        self._client = client
        self._keys = list(rate_budget_keys(digest))
        self._acquire = client.register_script(ACQUIRE_LUA)
        self._observe = client.register_script(OBSERVE_LUA)
        # What this process took, shared or not: the fallback's window (at its share) and the
        # broker's block, both checked before any round trip.
        self._local = RateLimiter(limit, per_seconds, sleep=sleep, clock=clock)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._ids = itertools.count()
        self._sleep = sleep
        self._clock = clock
        self._redis_retry_seconds = redis_retry_seconds
        self._redis_down_until: float | None = None  # on `clock`; None: Redis answers
        self._state_lock = threading.Lock()
        self.last_remaining: int | None = None  # the shared budget left after our last request
        self.fallbacks = 0  # times Redis stopped answering
        self.refused = 0  # acquire() calls that gave up

    # --- what callers see ------------------------------------------------------------------
    @property
    def shared(self) -> bool:
        """False while the budget is this process's fallback share (Redis did not answer)."""
        return self._redis_down_until is None

    @property
    def fallback_limit(self) -> int:
        return max(1, int(self.limit * self.fallback_share))

    def status(self) -> dict[str, Any]:
        """For health reports: the mode, the limits and the counters."""
        return {
            "mode": "shared" if self.shared else "local-fallback",
            "limit": self.limit,
            "fallback_limit": self.fallback_limit,
            "per_seconds": self.per_seconds,
            "last_remaining": self.last_remaining,
            "fallbacks": self.fallbacks,
            "refused": self.refused,
        }

    def try_acquire(self) -> bool:
        """One request if there is one, in at most one Redis round trip; never raises."""
        return self._attempt()[0] <= 0

    def try_acquire_at(self) -> int | None:
        """`try_acquire`, answering when the request was taken on the shared clock (Redis
        TIME, microseconds), or None when it was refused or taken from the fallback share."""
        wait, taken_at = self._attempt()
        return taken_at if wait <= 0 else None

    def observe(self, budget: BrokerBudget) -> None:
        """Feed back an answer's headers: a lower limit is followed, a 429 or Remaining=0 blocks
        every process until the broker's Reset, and requests the broker counted beyond our
        window are added to it. A Redis round trip only when there is something to tell."""
        self.limit = adopted_limit(self.configured_limit, self.limit, budget)
        self._local.limit = self.limit
        block = block_seconds(budget, time.time(), cap=self.per_seconds)
        self._local.block_for(block)
        used = budget.used
        # The broker thinks less is left than we did after our last request: someone else
        # uses the key (or its window holds a request longer than ours). Worth a round trip.
        behind = (
            budget.remaining is not None
            and self.last_remaining is not None
            and budget.remaining < self.last_remaining
        )
        if (block <= 0 and not behind) or self._redis_down_until is not None:
            return
        try:
            self._observe(
                keys=self._keys,
                args=[
                    self.per_seconds * 1_000_000,
                    -1 if used is None else used,
                    int(block * 1000),
                    f"seen:{self._token}:{next(self._ids)}",
                ],
            )
        except redis.RedisError as exc:
            self._redis_failed(exc)

    def close(self) -> None:
        self._client.close()

    # --- inside ----------------------------------------------------------------------------
    def _take(self) -> float:
        return self._attempt()[0]

    def _attempt(self) -> tuple[float, int | None]:
        """(0, when on Redis' clock) when a request was taken, else (the seconds until one may
        be, None)."""
        local = self._local
        blocked = local.blocked_for()  # the broker's block, known here already: no round trip
        if blocked > 0:
            return blocked, None
        if self._redis_usable():
            if local.used() >= self.limit:  # this process alone spent the whole budget
                return max(local.seconds_until_free(), 0.005), None
            try:
                taken, remaining, answer = self._acquire(
                    keys=self._keys,
                    args=[
                        self.limit,
                        self.per_seconds * 1_000_000,
                        f"{self._token}:{next(self._ids)}",
                    ],
                )
            except redis.RedisError as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered()
                if not taken:
                    return max(int(answer) / 1000, 0.005), None
                self.last_remaining = int(remaining)
                local.record()
                return 0.0, int(answer)
        # Fallback: this process's share, counted with what it took while Redis answered.
        if local.try_acquire(self.fallback_limit):
            return 0.0, None
        wait = max(local.blocked_for(), local.seconds_until_free(self.fallback_limit), 0.005)
        return wait, None

    def _refusal(self) -> str:
        if self._local.blocked_for() > 0:
            return "the broker said the rate budget is spent until its reset; retry later"
        if not self.shared:
            return (
                f"rate budget (Redis unreachable: this process's share, {self.fallback_limit} "
                f"requests per {self.per_seconds}s) reached; retry later"
            )
        return (
            f"shared rate budget of {self.limit} requests per {self.per_seconds}s for this API "
            "key reached; retry later"
        )

    def _redis_usable(self) -> bool:
        """True while Redis answers; during a fallback, True for one caller once the retry time
        has come (it asks Redis again; the others stay on the share meanwhile)."""
        if self._redis_down_until is None:
            return True
        with self._state_lock:
            down_until = self._redis_down_until
            if down_until is None:
                return True
            if self._clock() < down_until:
                return False
            self._redis_down_until = self._clock() + self._redis_retry_seconds
            return True

    def _redis_failed(self, exc: redis.RedisError) -> None:
        with self._state_lock:
            was_shared = self._redis_down_until is None
            self._redis_down_until = self._clock() + self._redis_retry_seconds
        if was_shared:
            self.fallbacks += 1
            log_kv(
                log,
                logging.WARNING,
                "rate budget: Redis does not answer, using this process's share",
                share=self.fallback_limit,
                per_seconds=self.per_seconds,
                retry_in_s=self._redis_retry_seconds,
                error=type(exc).__name__,
            )

    def _redis_answered(self) -> None:
        if self._redis_down_until is None:
            return
        with self._state_lock:
            was_down = self._redis_down_until is not None
            self._redis_down_until = None
        if was_down:
            log_kv(log, logging.INFO, "rate budget: Redis answers again, budget shared")


_BUDGETS: dict[tuple[str, str], SharedRateLimiter] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(
    redis_url: str,
    identity: str,
    limit: int,
    per_seconds: int = 60,
    *,
    fallback_share: float = 0.25,
) -> SharedRateLimiter:
    """The budget for `identity` (an API key, hashed here) kept in the Redis at `redis_url`.

    One object per (budget, Redis) in a process, so every broker a process builds for the key
    also shares the fallback window; other processes share it through Redis. The first
    caller's limit wins.
    """
    digest = budget_digest(identity)
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get((digest, redis_url))
        if budget is None:
            budget = SharedRateLimiter(
                budget_client(redis_url),
                digest,
                limit,
                per_seconds,
                fallback_share=fallback_share,
            )
            _BUDGETS[(digest, redis_url)] = budget
        return budget


def forget_shared_budgets() -> None:
    """Drop this process's budget objects, as a new process starts without them (tests: a
    restart or a Dagster run in the same interpreter). What Redis holds stays."""
    with _BUDGETS_LOCK:
        budgets = list(_BUDGETS.values())
        _BUDGETS.clear()
    for budget in budgets:
        budget.close()
