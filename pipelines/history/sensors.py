"""The position-history sensor: asks for an ingest run when the event streams moved.

Its cursor holds the stream tips (last ids) it last requested a run for. It compares the tips of
the position, order and alert streams with what the job says it has committed to DuckDB
(`HISTORY_INGESTED_KEY` in Redis; the sensor never opens DuckDB) and requests a run keyed by
the tips, so one set of new events yields one run however often the sensor fires. If that run
failed or was skipped (warehouse busy), the same tips are requested again after
`RETRY_AFTER_SECONDS` under a new key; the job's own DuckDB cursor makes a repeated run harmless.
"""

from __future__ import annotations

import hashlib
import time
from typing import Final

import dagster as dg
import redis

from pipelines.history.jobs import HISTORY_STREAMS, ingest_position_history, stream_id_key
from pipelines.resources import RedisResource
from pipelines.sensor_common import (
    UNAVAILABLE,
    dump_cursor,
    load_cursor,
    redis_skip_reason,
)
from position_manager.redis_schema import HISTORY_INGESTED_KEY, text

MINIMUM_INTERVAL_SECONDS: Final = 30
RETRY_AFTER_SECONDS: Final = 300


def stream_tips(client: redis.Redis) -> tuple[dict[str, str | None], dict[str, str]]:
    """(tip of each history stream, what the job has ingested) in one round trip."""
    pipe = client.pipeline(transaction=False)
    for stream in HISTORY_STREAMS:
        pipe.xrevrange(stream, "+", "-", count=1)
    pipe.hgetall(HISTORY_INGESTED_KEY)
    *tips_raw, ingested_raw = pipe.execute()
    tips = {
        s: (text(r[0][0]) if r else None) for s, r in zip(HISTORY_STREAMS, tips_raw, strict=True)
    }
    ingested = {text(k): text(v) for k, v in ingested_raw.items()}
    return tips, ingested


def behind(tips: dict[str, str | None], ingested: dict[str, str]) -> list[str]:
    """Streams whose tip is past what DuckDB holds."""
    out = []
    for stream, tip in tips.items():
        done = ingested.get(stream)
        if tip is not None and (done is None or stream_id_key(tip) > stream_id_key(done)):
            out.append(stream)
    return out


def tips_digest(tips: dict[str, str | None]) -> str:
    text_form = "|".join(f"{s}={tips[s] or '-'}" for s in sorted(tips))
    return hashlib.sha1(text_form.encode()).hexdigest()[:16]


@dg.sensor(
    job=ingest_position_history,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a history ingest when the position, order or alert streams moved.",
)
def position_history_sensor(
    context: dg.SensorEvaluationContext, redis: RedisResource
) -> dg.SensorResult | dg.SkipReason:
    try:
        with redis.get_client() as client:
            tips, ingested = stream_tips(client)
    except UNAVAILABLE as exc:
        return dg.SkipReason(redis_skip_reason(exc))
    pending = behind(tips, ingested)
    if not pending:
        return dg.SkipReason(
            "DuckDB already holds every position, order and alert event (stream tips: "
            + ", ".join(f"{s.rsplit(':', 1)[-1]}={t or 'empty'}" for s, t in tips.items())
            + ")."
        )
    cursor = load_cursor(context.cursor)
    digest = tips_digest(tips)
    now = time.time()
    run_key = f"history:{digest}"
    if cursor.get("digest") == digest:
        waited = now - float(cursor.get("requested_at", 0))
        if waited < RETRY_AFTER_SECONDS:
            return dg.SkipReason(
                f"An ingest for these events was requested {waited:.0f}s ago and has not "
                f"committed yet; asking again after {RETRY_AFTER_SECONDS}s if it still has not."
            )
        run_key = f"history:{digest}:retry-{int(now)}"
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                tags={"pm/streams_behind": ",".join(s.rsplit(":", 1)[-1] for s in pending)},
            )
        ],
        cursor=dump_cursor({"digest": digest, "requested_at": now, "tips": tips}),
    )
