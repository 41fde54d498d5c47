"""The simulator's request budget speaks Alpaca's headers, and its stats report the peak.

Alpaca answers with `X-RateLimit-Limit` (requests per minute), `X-RateLimit-Remaining` and
`X-RateLimit-Reset` ("the UNIX epoch when the remaining quota changes"), on 429s too
(docs/alpaca-notes.md, "Trading rules"; /work/shared/alpaca-openapi, `components.headers.
ratelimit_*` and the `429` response). `/sim/stats` reports `peak_requests_per_window`: the most
requests one key sent in any rolling window, refused ones included, which is what a client's
own limiter is judged by.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
import requests

from simulator import SimulatorHandle, start_simulator
from tests.support.simulator import REGULAR_OPEN_MORNING

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture
def small_budget() -> Iterator[SimulatorHandle]:
    with start_simulator(
        lifecycle="instant",
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0,
        rate_limit=3,
        control_endpoints=True,  # /sim/stats (off unless asked for)
    ) as handle:
        yield handle


def get(handle: SimulatorHandle, path: str) -> requests.Response:
    auth = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
    return requests.get(f"{handle.url}{path}", headers=auth, timeout=5)


def test_every_answer_counts_down_the_budget_in_alpacas_headers(
    small_budget: SimulatorHandle,
) -> None:
    first_at = time.time()
    answers = [get(small_budget, "/v2/clock")]
    time.sleep(1.1)  # a fixed span, so "a minute after each request" would read differently
    answers += [get(small_budget, "/v2/clock") for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["3", "3", "3"]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    # The quota changes when the first request leaves the minute, not a minute after each one.
    resets = {int(a.headers["X-RateLimit-Reset"]) for a in answers}
    assert len(resets) == 1
    assert math.floor(first_at + 60) <= resets.pop() <= math.ceil(first_at + 61)


def test_a_429_carries_the_headers_with_nothing_remaining_until_reset(
    small_budget: SimulatorHandle,
) -> None:
    last_ok = [get(small_budget, "/v2/clock") for _ in range(3)][-1]
    refused = get(small_budget, "/v2/clock")
    assert refused.status_code == 429 and refused.json()["code"] == 42910000
    assert all(name in refused.headers for name in HEADERS)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == last_ok.headers["X-RateLimit-Reset"]
    assert int(refused.headers["X-RateLimit-Reset"]) > time.time() + 50


def test_an_error_answer_carries_the_headers_too(small_budget: SimulatorHandle) -> None:
    missing = get(small_budget, "/v2/orders/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["X-RateLimit-Remaining"] == "2"


def test_stats_report_the_peak_requests_in_any_rolling_window(
    small_budget: SimulatorHandle,
) -> None:
    for _ in range(5):
        get(small_budget, "/v2/clock")
    stats = requests.get(f"{small_budget.url}/sim/stats", timeout=5).json()
    assert stats["peak_requests_per_window"] == 5  # 3 answered, 2 refused: all were sent
    assert stats["rate_limited"] == 2
    assert stats["rate_window_seconds"] == 60
    requests.post(f"{small_budget.url}/sim/stats", timeout=5)  # reset the counters
    stats = requests.get(f"{small_budget.url}/sim/stats", timeout=5).json()
    assert stats["peak_requests_per_window"] == 0
    assert get(small_budget, "/v2/clock").status_code == 429  # the budget itself is not reset


def test_the_peak_is_per_rolling_window_not_per_run() -> None:
    with start_simulator(lifecycle="instant", rate_limit=100, rate_window_seconds=1) as handle:
        started = time.monotonic()
        for _ in range(3):
            get(handle, "/v2/clock")
        assert time.monotonic() - started < 1.0  # all three inside one window
        time.sleep(1.05)  # the window moves past them (a fixed span, not a wait for an event)
        for _ in range(2):
            get(handle, "/v2/clock")
        stats = handle.simulator.stats
        assert stats["requests"] == 5
        assert stats["peak_requests_per_window"] == 3
