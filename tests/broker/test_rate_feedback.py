"""The broker's X-RateLimit-* headers and 429s feed back into the budget: read from each answer
by the adapter's HTTP session (a response hook), through the real alpaca-py SDK against the
simulator, which sends the headers as Alpaca does (docs/alpaca-notes.md, "Trading rules")."""

from __future__ import annotations

import time

import pytest
import redis
import requests

from broker.errors import RateLimitedError
from broker.factory import build_broker
from broker.rate_feedback import DEFAULT_BLOCK_SECONDS, BrokerBudget, block_seconds, read_budget
from broker.rate_limit import RateLimiter, budget_digest
from broker.shared_rate_limit import SharedRateLimiter, forget_shared_budgets
from position_manager.config import Settings
from position_manager.redis_schema import rate_budget_keys
from position_manager.simulator_keys import SIMULATOR_API_KEY
from simulator import start_simulator
from tests.support.simulator import REGULAR_OPEN_MORNING, make_broker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- reading the headers ------------------------------------------------------------------------
def test_an_answer_with_alpacas_headers_reads_as_a_budget() -> None:
    budget = read_budget(
        200,
        {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "57", "X-RateLimit-Reset": "17"},
    )
    assert budget == BrokerBudget(limit=200, remaining=57, reset_at=17.0, rate_limited=False)
    assert budget.used == 143


def test_an_answer_without_the_headers_says_nothing_unless_it_is_a_429() -> None:
    assert read_budget(200, {}) is None
    assert read_budget(429, {}) == BrokerBudget(None, None, None, rate_limited=True)
    garbled = read_budget(200, {"X-RateLimit-Remaining": "many", "X-RateLimit-Limit": "-3"})
    assert garbled is None


def test_a_block_lasts_until_reset_only_when_nothing_is_left() -> None:
    now = 1_000.0
    left = BrokerBudget(200, 5, now + 30, rate_limited=False)
    spent = BrokerBudget(200, 0, now + 30, rate_limited=False)
    assert block_seconds(left, now, cap=60) == 0
    assert block_seconds(spent, now, cap=60) == 30
    assert block_seconds(BrokerBudget(200, 0, now - 1, False), now, cap=60) == 0  # reset passed
    assert block_seconds(BrokerBudget(200, 0, now + 900, True), now, cap=60) == 60  # capped
    assert block_seconds(BrokerBudget(None, None, None, True), now, cap=60) == DEFAULT_BLOCK_SECONDS


def test_the_in_process_window_refuses_until_the_brokers_reset_then_goes_on() -> None:
    clock = FakeClock()
    limiter = RateLimiter(200, 60, clock=clock)
    assert limiter.try_acquire()
    # No Limit header: only the block (with one, the 200 counted would also fill our window).
    limiter.observe(BrokerBudget(None, 0, time.time() + 10, rate_limited=False))
    assert limiter.try_acquire() is False
    clock.now += 9.0
    assert limiter.try_acquire() is False
    clock.now += 2.0
    assert limiter.try_acquire() is True


# --- through the adapter against the simulator --------------------------------------------------
def test_the_sessions_hook_feeds_every_answer_back_to_the_limiter() -> None:
    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0, rate_limit=3
    ) as handle:
        limiter = RateLimiter(100, 60)
        broker = make_broker(handle, limiter=limiter)
        for _ in range(3):
            broker.get_clock()
        # The broker's Limit (3) is below ours and its last answer said Remaining=0.
        assert limiter.limit == 3
        assert limiter.blocked_for() > 50
        with broker.non_blocking(), pytest.raises(RateLimitedError):
            broker.get_clock()
        assert handle.simulator.stats["GET /v2/clock"] == 3  # nothing was sent
        assert handle.simulator.stats["rate_limited"] == 0


def test_a_429_seen_by_one_process_stops_the_others(
    settings: Settings, redis_url: str, redis_client: redis.Redis
) -> None:
    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0, rate_limit=2
    ) as handle:
        # Another client spends the key's budget behind our back.
        headers = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
        for _ in range(2):
            assert requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5).ok
        worker = build_broker(settings, handle.url, redis_url=redis_url)
        with worker.non_blocking(), pytest.raises(RateLimitedError) as caught:
            worker.get_clock()
        assert caught.value.status == 429
        forget_shared_budgets()  # a Dagster run: another process, the same settings
        job = build_broker(settings, handle.url, redis_url=redis_url)
        assert job.rate_limiter is not worker.rate_limiter
        with job.non_blocking(), pytest.raises(RateLimitedError) as refused:
            job.get_clock()
        assert refused.value.status is None  # refused before it was sent
        assert handle.simulator.stats["rate_limited"] == 1
        _, block = rate_budget_keys(budget_digest(f"{SIMULATOR_API_KEY}@{handle.url}"))
        assert redis_client.pttl(block) > 50_000


def test_requests_another_client_made_are_counted_against_the_shared_budget(
    settings: Settings, redis_url: str, redis_client: redis.Redis
) -> None:
    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0, rate_limit=200
    ) as handle:
        headers = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
        for _ in range(5):
            assert requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5).ok
        broker = build_broker(settings, handle.url, redis_url=redis_url)
        broker.get_clock()
        assert isinstance(broker.rate_limiter, SharedRateLimiter)
        window, _ = rate_budget_keys(budget_digest(f"{SIMULATOR_API_KEY}@{handle.url}"))
        assert redis_client.zcard(window) == 6  # ours, and the 5 the broker told us about
