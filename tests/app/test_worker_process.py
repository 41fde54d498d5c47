"""`python -m app.worker` as a real process: starts (embedded simulator), beats, and on SIGTERM
finishes its batch, acks and exits 0. Also: other processes can tell it is down."""

from __future__ import annotations

import signal
from pathlib import Path

import redis

from book.health import check_worker_down, worker_is_down
from position_manager import events, redis_schema
from tests.support.processes import end_process, start_worker_process
from tests.support.redis_reads import read_events
from tests.support.waits import wait_until


def test_sigterm_exits_zero_after_acking(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    proc = start_worker_process(redis_url, tmp_path, "proc-test")
    try:

        def beating() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            return client.get(redis_schema.WORKER_HEARTBEAT_KEY) is not None

        wait_until(beating, 60, "worker never beat", interval=0.05)
        assert not worker_is_down(client)
        events.publish(
            client,
            events.QUOTE_UPDATED,
            {"symbol": "ZZZZ", "bid": "1", "ask": "2", "timestamp": "2026-11-24T15:00:00Z"},
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        end_process(proc)
    assert client.xpending(events.QUOTES_STREAM, "pm-worker")["pending"] == 0
    assert client.hget(redis_schema.WORKER_HEALTH_KEY, "status") == b"stopped"
    assert worker_is_down(client)  # the heartbeat is removed on a clean stop
    client.close()


def test_check_worker_down_alerts_once(redis_client: redis.Redis) -> None:
    assert check_worker_down(redis_client)
    assert check_worker_down(redis_client)
    alerts = read_events(redis_client, events.ALERTS_STREAM)
    assert [e.event for e in alerts] == [events.ALERT_WORKER_DOWN]
    redis_client.delete("pm:alert:worker_down")
    redis_client.set(redis_schema.WORKER_HEARTBEAT_KEY, "2000-01-01T00:00:00+00:00")
    assert check_worker_down(redis_client, max_age_seconds=30)
