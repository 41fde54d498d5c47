"""Alerts reach a person: the notifier against a real Redis and a local webhook that apprise's
`json://` target posts to. Once per cause per window, retried then given up on a failing
endpoint (HTTP 500, connection refused), never resent inside the window, even by a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import redis

from position_manager import events, redis_schema
from position_manager.local_redis import free_port
from position_manager.logging import configure_logging
from streaming.notify.notifier import AlertNotifier
from streaming.notify.targets import build_targets
from tests.support.waits import wait_until
from tests.support.webhook import Webhook

TOKEN = "hookTOKEN7f3a9c2e1b"  # a secret path segment: must never reach a log line
FAST = (0.05, 0.05)  # retry delays for the tests: three attempts in all


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture
def debug_logging() -> Iterator[None]:
    """What LOG_LEVEL=DEBUG does in the worker (urllib3, websockets and apprise stay quieter),
    undone afterwards."""
    root = logging.getLogger()
    before = root.level
    configure_logging("DEBUG")
    yield
    root.setLevel(before)


Make = Callable[..., AlertNotifier]


@pytest.fixture
def make_notifier(redis_client: redis.Redis) -> Iterator[Make]:
    started: list[AlertNotifier] = []

    def make(
        url: str, *, window: int = 3600, retry_delays: tuple[float, ...] = FAST, name: str = "n1"
    ) -> AlertNotifier:
        notifier = AlertNotifier(
            redis_client,
            build_targets((url,)),
            lambda kind: window,
            consumer_name=name,
            retry_delays=retry_delays,
            block_ms=50,
        )
        notifier.prepare()  # the group exists before the test publishes
        started.append(notifier.start())
        return notifier

    yield make
    for notifier in started:
        notifier.stop()


def alert(client: redis.Redis, name: str, symbol: str | None, message: str) -> str:
    return events.publish(client, name, {"symbol": symbol, "message": message})


def pending(client: redis.Redis) -> int:
    return int(client.xpending(events.ALERTS_STREAM, redis_schema.NOTIFIER_GROUP)["pending"])


def settled(client: redis.Redis, notifier: AlertNotifier, handled: int) -> Callable[[], bool]:
    """All `handled` alerts were read and acked."""

    def check() -> bool:
        s = notifier.stats
        return s.sent + s.duplicates + s.given_up >= handled and pending(client) == 0

    return check


def test_an_alert_reaches_the_webhook_once_per_cause(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    notifier = make_notifier(webhook.url(f"hooks/{TOKEN}"))
    alert(
        redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -15.3% from entry (alert at -15%)"
    )
    alert(
        redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -16.1% from entry (alert at -15%)"
    )
    alert(
        redis_client, events.ALERT_LARGE_LOSS, "NVDA", "NVDA is -15.0% from entry (alert at -15%)"
    )
    alert(redis_client, events.ALERT_UNPROTECTED, "AAPL", "AAPL (50 shares) has no stop order")
    wait_until(settled(redis_client, notifier, 4), 10, "the notifier did not handle 4 alerts")

    posts = webhook.posts()
    assert [p.body["title"] for p in posts] == [
        "position-manager: large loss AAPL",
        "position-manager: large loss NVDA",
        "position-manager: unprotected position AAPL",
    ]
    assert posts[0].path == f"/hooks/{TOKEN}"
    assert posts[0].body["message"].startswith("AAPL is -15.3% from entry")
    assert "alert.large_loss" in posts[0].body["message"]
    assert posts[0].body["type"] == "warning" and posts[2].body["type"] == "failure"
    assert (notifier.stats.sent, notifier.stats.duplicates) == (3, 1)


def test_the_same_cause_is_sent_again_once_its_window_has_passed(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    notifier = make_notifier(webhook.url(), window=1)
    alert(redis_client, events.ALERT_STALE_DATA, None, "no price update for 301s (limit 300s)")
    wait_until(settled(redis_client, notifier, 1), 10, "first alert not handled")
    wait_until(
        lambda: not redis_client.keys("pm:alert:sent:*"), 5, "the window's key never expired"
    )
    alert(redis_client, events.ALERT_STALE_DATA, None, "no price update for 362s (limit 300s)")
    wait_until(settled(redis_client, notifier, 2), 10, "second alert not handled")
    assert len(webhook.posts()) == 2 and notifier.stats.duplicates == 0


def test_a_failing_endpoint_is_retried_then_given_up_with_a_log_line(
    redis_client: redis.Redis,
    webhook: Webhook,
    make_notifier: Make,
    caplog: pytest.LogCaptureFixture,
    debug_logging: None,
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook.answer(500)
    notifier = make_notifier(webhook.url(f"hooks/{TOKEN}", user=f"pm:{TOKEN}pw"))
    alert(redis_client, events.ALERT_WORKER_DOWN, None, "streaming worker heartbeat is 45s old")
    wait_until(settled(redis_client, notifier, 1), 10, "the alert was not given up")

    assert [p.status for p in webhook.posts()] == [500, 500, 500]  # tried, retried twice
    lines = [r.getMessage() for r in caplog.records]
    gave_up = [line for line in lines if "alert delivery gave up" in line]
    assert len(gave_up) == 1 and f"#1 json://127.0.0.1:{webhook.port}" in gave_up[0]
    assert sum("alert delivery failed, retrying" in line for line in lines) == 2
    assert not [line for line in lines if TOKEN in line], "a log line shows the URL's secrets"
    # Nobody was told: the cause's key is released, so its next occurrence is tried again.
    webhook.answer(200)
    alert(redis_client, events.ALERT_WORKER_DOWN, None, "streaming worker heartbeat is 50s old")
    wait_until(settled(redis_client, notifier, 2), 10, "the repeat was not handled")
    assert [p.status for p in webhook.posts()] == [500, 500, 500, 200]


def test_a_refused_connection_is_retried_then_given_up_and_the_notifier_goes_on(
    redis_client: redis.Redis, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    nothing_there = f"json://127.0.0.1:{free_port()}/hooks/{TOKEN}"
    notifier = AlertNotifier(
        redis_client,
        build_targets((nothing_there, webhook.url())),
        lambda kind: 3600,
        consumer_name="n1",
        retry_delays=FAST,
        block_ms=50,
    )
    notifier.prepare()
    notifier.start()
    try:
        alert(redis_client, events.ALERT_CIRCUIT_OPEN, None, "broker circuit breaker is open")
        wait_until(settled(redis_client, notifier, 1), 15, "the alert was not handled")
        assert notifier.stats.given_up == 1 and notifier.stats.failed_attempts == 3
        assert len(webhook.posts()) == 1  # the other target still got it, once
        alert(redis_client, events.ALERT_LARGE_LOSS, "XOM", "XOM is -20.0% from entry")
        wait_until(lambda: len(webhook.posts()) == 2, 15, "the notifier stopped after a failure")
    finally:
        notifier.stop()
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]


def test_a_restart_does_not_resend_a_cause_inside_its_window(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    first = make_notifier(webhook.url())
    alert(redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -15.3% from entry")
    wait_until(settled(redis_client, first, 1), 10, "first alert not handled")
    first.stop()
    second = make_notifier(webhook.url(), name="n2")  # another process, or the next start
    alert(redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -17.9% from entry")
    wait_until(settled(redis_client, second, 1), 10, "repeat not handled")
    assert len(webhook.posts()) == 1 and second.stats.duplicates == 1


def test_an_alert_whose_delivery_a_stop_interrupted_is_sent_by_the_next_start(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    webhook.answer(500)
    first = make_notifier(webhook.url(), retry_delays=(60.0,))
    alert(redis_client, events.ALERT_UNPROTECTED, "SNDL", "SNDL (900 shares) has no stop order")
    wait_until(lambda: webhook.posts(), 10, "no first attempt")
    first.stop()  # during the 60 s wait: at once, the alert unacked
    assert pending(redis_client) == 1
    webhook.answer(200)
    again = make_notifier(webhook.url())  # the same consumer name: it reads its own pending
    wait_until(settled(redis_client, again, 1), 10, "the interrupted alert was not sent")
    assert [p.status for p in webhook.posts()] == [500, 200]


def test_a_bad_entry_on_the_alerts_stream_is_skipped_and_acked(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    notifier = make_notifier(webhook.url())
    redis_client.xadd(events.ALERTS_STREAM, {"event": "alert.large_loss", "data": "{not json"})
    alert(redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -15.3% from entry")
    wait_until(settled(redis_client, notifier, 1), 10, "the good alert was not sent")
    wait_until(lambda: pending(redis_client) == 0, 5, "the bad entry stayed pending")
    assert notifier.stats.bad_entries == 1 and len(webhook.posts()) == 1


def test_alerts_raised_before_the_first_start_are_history_not_news(
    redis_client: redis.Redis, webhook: Webhook, make_notifier: Make
) -> None:
    alert(redis_client, events.ALERT_LARGE_LOSS, "AAPL", "AAPL is -15.3% from entry")
    notifier = make_notifier(webhook.url())
    alert(redis_client, events.ALERT_LARGE_LOSS, "NVDA", "NVDA is -15.3% from entry")
    wait_until(settled(redis_client, notifier, 1), 10, "the new alert was not sent")
    assert [p.body["title"] for p in webhook.posts()] == ["position-manager: large loss NVDA"]
