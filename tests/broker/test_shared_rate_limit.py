"""One request budget per API key in Redis, shared by every process (broker.shared_rate_limit).

Each `SharedRateLimiter` object here stands for a process of its own: separate objects, separate
Redis connections, the same Redis and the same key, as the worker, its restart and a Dagster run
would have. Request times are Redis TIME (one clock for all of them), so "never more than the
limit in any rolling window" is checked exactly, not by timing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.errors import RateLimitedError
from broker.rate_feedback import BrokerBudget
from broker.rate_limit import RateLimiter, budget_digest
from broker.shared_rate_limit import SharedRateLimiter, budget_client
from position_manager.local_redis import RedisServer, free_port
from position_manager.redis_schema import rate_budget_keys, text
from tests.support.waits import wait_until

KEY = "PKTESTKEY123"


def process(redis_url: str, limit: int, per_seconds: int = 60, **kw: object) -> SharedRateLimiter:
    """The budget one process would build for KEY (with a patient Redis client: a reply slowed
    by a busy test machine must not turn a test of the shared window into one of the fallback)."""
    return SharedRateLimiter(
        budget_client(redis_url, timeout=5.0),
        budget_digest(KEY),
        limit,
        per_seconds,
        **kw,  # type: ignore[arg-type]
    )


def most_in_any_window(times_us: list[int], window_us: int) -> int:
    """The largest number of request times inside one rolling window (t - window, t]."""
    ordered = sorted(times_us)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window_us:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_two_processes_together_never_exceed_the_limit_in_any_rolling_window(
    redis_url: str,
) -> None:
    limit, per_seconds, run_for = 5, 1, 2.5
    budgets = [process(redis_url, limit, per_seconds), process(redis_url, limit, per_seconds)]
    taken: list[tuple[int, int]] = []  # (which process, Redis time in us)
    lock = threading.Lock()
    deadline = time.monotonic() + run_for

    def hammer(which: int) -> None:
        while time.monotonic() < deadline:
            at = budgets[which].try_acquire_at()
            if at is not None:
                with lock:
                    taken.append((which, at))

    threads = [threading.Thread(target=hammer, args=(i % 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [budget.fallbacks for budget in budgets] == [0, 0]
    times = [at for _, at in taken]
    assert most_in_any_window(times, per_seconds * 1_000_000) == limit
    # The budget was used, not just refused: two full windows and part of a third.
    assert 2 * limit <= len(times) <= 3 * limit
    assert {which for which, _ in taken} == {0, 1}  # both processes drew on it


def test_two_in_process_windows_let_twice_the_limit_through() -> None:
    # What the shared budget replaces: each process's own window lets its own `limit` through.
    first, second = RateLimiter(5, 60), RateLimiter(5, 60)
    granted = sum(limiter.try_acquire() for limiter in (first, second) for _ in range(10))
    assert granted == 10  # twice the limit in one window


def test_a_new_process_starts_from_the_budget_already_spent(redis_url: str) -> None:
    worker = process(redis_url, 3)
    assert [worker.try_acquire() for _ in range(4)] == [True, True, True, False]
    restarted = process(redis_url, 3)  # the worker after a restart: a fresh object, no memory
    assert restarted.try_acquire() is False
    window, _ = rate_budget_keys(budget_digest(KEY))
    assert redis.Redis.from_url(redis_url).zcard(window) == 3


def test_the_redis_keys_name_a_hash_of_the_api_key_never_the_key(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert process(redis_url, 3).try_acquire()
    keys = [text(key) for key in redis_client.keys("pm:ratelimit:*")]
    assert keys == [f"pm:ratelimit:{budget_digest(KEY)}"]
    assert KEY not in keys[0] and KEY.lower() not in keys[0]
    assert all(KEY not in text(m) for m in redis_client.zrange(keys[0], 0, -1))


def test_the_window_slides_on_redis_time(redis_url: str) -> None:
    budget = process(redis_url, 2, per_seconds=1)
    first = budget.try_acquire_at()
    assert first is not None and budget.try_acquire_at() is not None
    assert budget.try_acquire_at() is None
    # Blocking callers wait for the oldest request to leave the window, then go through.
    budget.acquire(timeout=3.0)
    window, _ = rate_budget_keys(budget_digest(KEY))
    newest: Any = redis.Redis.from_url(redis_url).zrange(window, -1, -1, withscores=True)
    assert newest[0][1] - first >= 1_000_000


def test_the_brokers_remaining_zero_blocks_every_process_until_its_reset(
    redis_url: str, redis_client: redis.Redis
) -> None:
    worker, job = process(redis_url, 200), process(redis_url, 200)
    assert worker.try_acquire() and job.try_acquire()
    worker.observe(
        BrokerBudget(limit=200, remaining=0, reset_at=time.time() + 30, rate_limited=False)
    )
    assert job.try_acquire() is False  # another process: it learns it from Redis
    assert worker.try_acquire() is False
    _, block = rate_budget_keys(budget_digest(KEY))
    assert 28_000 < redis_client.pttl(block) <= 30_000


def test_a_429_with_a_far_reset_blocks_for_one_window_at_most(redis_url: str) -> None:
    budget = process(redis_url, 200, per_seconds=60)
    assert budget.try_acquire()
    budget.observe(
        BrokerBudget(limit=200, remaining=0, reset_at=time.time() + 3600, rate_limited=True)
    )
    _, block = rate_budget_keys(budget_digest(KEY))
    assert 59_000 < redis.Redis.from_url(redis_url).pttl(block) <= 60_000  # capped at the window


def test_requests_the_broker_counted_and_we_did_not_are_added_to_the_window(
    redis_url: str, redis_client: redis.Redis
) -> None:
    budget = process(redis_url, 10)
    assert budget.try_acquire()
    assert budget.last_remaining == 9
    # The broker has counted 6 (another client on the key sent 5): 4 left, not 9.
    budget.observe(BrokerBudget(limit=10, remaining=4, reset_at=None, rate_limited=False))
    window, _ = rate_budget_keys(budget_digest(KEY))
    assert redis_client.zcard(window) == 6
    assert sum(process(redis_url, 10).try_acquire() for _ in range(10)) == 4


def test_a_lower_limit_from_the_broker_is_followed_and_a_higher_one_restores_ours(
    redis_url: str,
) -> None:
    budget = process(redis_url, 10)
    budget.observe(BrokerBudget(limit=4, remaining=4, reset_at=None, rate_limited=False))
    assert budget.limit == 4
    assert sum(budget.try_acquire() for _ in range(10)) == 4
    budget.observe(BrokerBudget(limit=1000, remaining=996, reset_at=None, rate_limited=False))
    assert budget.limit == 10  # never above the setting


# --- without Redis ------------------------------------------------------------------------------
@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start under the limiter."""
    server = RedisServer(port=free_port(), directory=tmp_path / "redis").start(appendonly=False)
    yield server
    server.stop()


def test_without_redis_a_process_gets_its_share_logs_it_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    budget = process(nowhere, 8, fallback_share=0.25, redis_retry_seconds=60)
    with caplog.at_level(logging.WARNING, logger="broker.shared_rate_limit"):
        granted = [budget.try_acquire() for _ in range(5)]
    assert granted == [True, True, False, False, False]  # a quarter of 8, never unlimited
    assert budget.shared is False
    assert budget.status()["mode"] == "local-fallback" and budget.fallbacks == 1
    assert caplog.text.count("Redis does not answer") == 1
    with pytest.raises(RateLimitedError, match="Redis unreachable"):
        budget.acquire(timeout=0.0)


def test_the_fallback_counts_what_the_process_sent_while_redis_answered(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    budget = process(own_redis.url, 8, fallback_share=0.25, redis_retry_seconds=0.2)
    assert [budget.try_acquire() for _ in range(3)] == [True, True, True]
    own_redis.stop()
    # 3 sent in this window already: above the share of 2, so nothing more until they age.
    assert budget.try_acquire() is False
    assert budget.shared is False
    # Redis comes back on the same port: after the retry delay the budget is shared again.
    with RedisServer(port=own_redis.port, directory=tmp_path / "again").start(appendonly=False):
        wait_until(lambda: budget.try_acquire() and budget.shared, 5.0, "budget never shared again")
        assert budget.status()["mode"] == "shared"
