"""The reconciliation sensor: reconcile now when the worker is down or a position is unprotected.

Two triggers, one run each:

- the worker's heartbeat is stale or missing: a run at most every `WORKER_DOWN_EVERY_SECONDS`
  (the job then fixes stops itself), keyed by that time slot;
- an `alert.unprotected_position` on the alerts stream after the cursor: a run keyed by the last
  such alert's stream id, so an alert is acted on once however often the sensor fires.

The cursor holds the last alerts-stream id read and when the last worker-down run was asked for.
"""

from __future__ import annotations

import time
from typing import Any, Final

import dagster as dg

from book.health import WORKER_MAX_AGE_SECONDS, worker_status
from pipelines.protection.reconciliation import reconcile_positions_job, reconcile_run_config
from pipelines.resources import RedisResource
from pipelines.sensor_common import (
    UNAVAILABLE,
    dump_cursor,
    load_cursor,
    redis_skip_reason,
)
from position_manager import events
from position_manager.errors import InvalidEventError
from position_manager.events import decode_event
from position_manager.redis_schema import text

MINIMUM_INTERVAL_SECONDS: Final = 30
WORKER_DOWN_EVERY_SECONDS: Final = 300
ALERTS_READ_LIMIT: Final = 1000


def unprotected_alerts(
    client: Any, after_id: str, limit: int = ALERTS_READ_LIMIT
) -> tuple[str, list[tuple[str, str]]]:
    """(new cursor, [(stream id, symbol)] of unprotected-position alerts) after `after_id`."""
    entries = client.xrange(events.ALERTS_STREAM, min=f"({after_id}", max="+", count=limit)
    found: list[tuple[str, str]] = []
    last = after_id
    for raw_id, fields in entries:
        last = text(raw_id)
        try:
            event = decode_event(fields)
        except InvalidEventError:
            continue  # malformed: the history job records it as such
        if event.event == events.ALERT_UNPROTECTED:
            found.append((last, str(event.data.get("symbol") or "?")))
    return last, found


@dg.sensor(
    job=reconcile_positions_job,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reconciles when the worker's heartbeat is stale or a position is unprotected.",
)
def reconciliation_sensor(
    context: dg.SensorEvaluationContext, redis: RedisResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = load_cursor(context.cursor)
    after = str(cursor.get("alerts_after", "0-0"))
    try:
        with redis.get_client() as client:
            status = worker_status(client, WORKER_MAX_AGE_SECONDS)
            last_id, alerts = unprotected_alerts(client, after)
    except UNAVAILABLE as exc:
        return dg.SkipReason(redis_skip_reason(exc))
    now = time.time()
    new_cursor = {**cursor, "alerts_after": last_id}
    if alerts:
        symbols = sorted({s for _, s in alerts})
        request = dg.RunRequest(
            run_key=f"reconcile:alert:{alerts[-1][0]}",
            run_config=reconcile_run_config(f"sensor: unprotected {','.join(symbols)}"),
            tags={"pm/trigger": "alert.unprotected_position", "pm/symbols": ",".join(symbols)},
        )
        return dg.SensorResult(run_requests=[request], cursor=dump_cursor(new_cursor))
    if not status.alive:
        asked = float(cursor.get("worker_down_requested_at", 0))
        if now - asked >= WORKER_DOWN_EVERY_SECONDS:
            new_cursor["worker_down_requested_at"] = now
            request = dg.RunRequest(
                run_key=f"reconcile:worker-down:{int(now // WORKER_DOWN_EVERY_SECONDS)}",
                run_config=reconcile_run_config(f"sensor: {status.describe()}"),
                tags={"pm/trigger": "worker_down"},
            )
            return dg.SensorResult(run_requests=[request], cursor=dump_cursor(new_cursor))
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{status.sentence()}; a reconciliation was requested {now - asked:.0f}s "
                f"ago, the next one in {WORKER_DOWN_EVERY_SECONDS - (now - asked):.0f}s."
            ),
            cursor=dump_cursor(new_cursor),
        )
    return dg.SensorResult(
        skip_reason=dg.SkipReason(f"{status.sentence()} and no position was reported unprotected."),
        cursor=dump_cursor(new_cursor),
    )
