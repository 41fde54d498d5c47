"""The worker process with ALERT_URLS: its notifier thread meets a failing endpoint (HTTP 500),
retries it, and the worker goes on beating and exits 0 on SIGTERM, the URL's token in no line."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from position_manager import events, redis_schema
from tests.support.processes import end_process, isolated_env, start_worker_process
from tests.support.waits import wait_until
from tests.support.webhook import Webhook

TOKEN = "workerHOOKtoken5d2e8a"


@pytest.fixture
def failing_webhook() -> Iterator[Webhook]:
    hook = Webhook(statuses=[500]).start()
    yield hook
    hook.stop()


def test_a_failing_alert_endpoint_never_stops_the_worker(
    redis_url: str, tmp_path: Path, failing_webhook: Webhook
) -> None:
    client = redis.Redis.from_url(redis_url)
    proc = start_worker_process(
        redis_url,
        tmp_path,
        "alerts-test",
        ALERT_URLS=failing_webhook.url(f"hooks/{TOKEN}"),
        LOG_LEVEL="DEBUG",
    )
    try:

        def running() -> bool:
            """False while the worker runs (so `running() or check` waits for the check); a
            worker that exited fails the test with what it printed."""
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            return False

        def groups() -> list[bytes]:
            if not client.exists(events.ALERTS_STREAM):
                return []
            return [g["name"] for g in client.xinfo_groups(events.ALERTS_STREAM)]

        wait_until(
            lambda: running() or client.get(redis_schema.WORKER_HEARTBEAT_KEY) is not None,
            60,
            "worker never beat",
            interval=0.05,
        )
        wait_until(
            lambda: running() or redis_schema.NOTIFIER_GROUP.encode() in groups(),
            30,
            "the notifier never joined the alerts stream",
        )
        events.publish(
            client,
            events.ALERT_LARGE_LOSS,
            {"symbol": "AAPL", "message": "AAPL is -15.3% from entry (alert at -15%)"},
        )
        # Tried, then retried 2 s later (the next retry would be 10 s after that).
        wait_until(
            lambda: running() or len(failing_webhook.posts()) >= 2, 30, "no retry reached it"
        )
        beat = client.get(redis_schema.WORKER_HEARTBEAT_KEY)
        wait_until(
            lambda: running() or client.get(redis_schema.WORKER_HEARTBEAT_KEY) != beat,
            30,
            "the worker stopped beating while its notifier retried",
        )
        proc.send_signal(signal.SIGTERM)  # during the notifier's 10 s wait: it stops at once
        assert proc.wait(timeout=30) == 0
        output = proc.stdout.read().decode() if proc.stdout else ""
    finally:
        end_process(proc)
        client.close()
    assert "alert delivery failed, retrying" in output
    assert f"#1 json://127.0.0.1:{failing_webhook.port}" in output
    assert TOKEN not in output
    assert {p.path for p in failing_webhook.posts()} == {f"/hooks/{TOKEN}"}


def test_notify_sends_alerts_without_a_worker(redis_url: str, tmp_path: Path) -> None:
    """`position-manager notify`, for `alert.worker_down` while the worker is down."""
    hook = Webhook().start()
    client = redis.Redis.from_url(redis_url)
    env = isolated_env(redis_url, tmp_path, ALERT_URLS=hook.url())
    cli = Path(sys.executable).parent / "position-manager"
    proc = subprocess.Popen(
        [str(cli), "notify"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:

        def joined() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            return client.exists(events.ALERTS_STREAM) == 1 and any(
                g["name"] == redis_schema.NOTIFIER_GROUP.encode()
                for g in client.xinfo_groups(events.ALERTS_STREAM)
            )

        wait_until(joined, 30, "notify never joined the alerts stream")
        check = {"symbol": None, "message": "streaming worker heartbeat is missing"}
        events.publish(client, events.ALERT_WORKER_DOWN, check)
        wait_until(lambda: hook.posts(), 15, "the alert never reached the webhook")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        end_process(proc)
        client.close()
        hook.stop()
    assert hook.posts()[0].body["title"] == "position-manager: worker down"
    env.pop("ALERT_URLS")
    nothing = subprocess.run([str(cli), "notify"], env=env, capture_output=True, timeout=30)
    assert nothing.returncode == 2 and b"ALERT_URLS is empty" in nothing.stderr + nothing.stdout
