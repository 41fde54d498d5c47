"""End to end on a real Dagster instance (temp DAGSTER_HOME): the schedule and the sensors are
evaluated from the code location's Definitions, their runs launched on the instance, and the
effects checked at the simulator and in DuckDB — the worker being down throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg

from pipelines.definitions import defs
from position_manager import events
from tests.pipelines.conftest import Env, new_york_today

# Tue 2026-11-24 10:05 New York: a regular-session schedule tick.
SCHEDULED_AT = datetime(2026, 11, 24, 15, 5, tzinfo=UTC)


def _launch(env: Env, instance: dg.DagsterInstance, job_name: str, request: dg.RunRequest) -> None:
    result = env.launch(defs.resolve_job_def(job_name), instance, request)
    assert result.success, job_name


def test_schedule_and_sensors_protect_reduce_and_record_with_the_worker_down(
    env: Env, instance: dg.DagsterInstance
) -> None:
    env.hold("AAPL", 100, "100")  # unprotected
    env.session("REGULAR")
    report = new_york_today() + timedelta(days=5)
    env.risk("AAPL", report)

    # 1. The schedule's tick reconciles: the missing stop is placed by the job itself.
    schedule = defs.resolve_schedule_def("reconciliation_schedule")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=SCHEDULED_AT) as ctx:
        scheduled = schedule.evaluate_tick(ctx)
    assert len(scheduled.run_requests or []) == 1
    _launch(env, instance, "reconcile_positions_job", (scheduled.run_requests or [])[0])
    # ATR 2 x 1.5 = 3 is under the large-cap floor: the stop is clamped to 8 % below entry.
    assert [(s.qty, s.stop_price) for s in env.stops("AAPL")] == [(100, Decimal("92"))]

    # 2. The pre-earnings sensor asks once; the run sells half, the stop shrinks first.
    earnings = env.tick(defs.resolve_sensor_def("pre_earnings_sensor"), instance)
    assert [r.run_key for r in earnings.run_requests] == [f"earnings:AAPL:{report.isoformat()}"]
    _launch(env, instance, "reduce_for_earnings_job", earnings.run_requests[0])
    assert env.qty("AAPL") == 50
    assert [s.qty for s in env.stops("AAPL")] == [50]

    # 3. The history sensor ingests what happened; position_history shows it.
    history = env.tick(defs.resolve_sensor_def("position_history_sensor"), instance)
    _launch(env, instance, "ingest_position_history", history.run_requests[0])
    shown = env.sql(
        "SELECT h.event, e.data->>'reason', h.filled_qty FROM position_history AS h "
        "JOIN position_events AS e USING (stream_id) ORDER BY h.ts, h.stream_id"
    )
    assert shown == [
        (events.POSITION_OPENED, None, Decimal(100)),  # adopted: tracked from the first scan
        (events.POSITION_STOP_SET, "protect", None),
        (events.POSITION_STOP_SET, "shrink", None),  # the stop made to fit before the sale
        # the decision (its shares are in data); the fill's `position.reduced` comes from the
        # worker when it applies the order update
        (events.POSITION_EARNINGS_REDUCTION, None, None),
    ]
    actions = env.sql("SELECT action, kind, side FROM orders ORDER BY created_at")
    assert ("earnings", "market", "sell") in actions and ("stop", "stop", "sell") in actions
    assert env.sql("SELECT trigger, mode, status, found, fixed FROM reconciliation_runs") == [
        ("schedule", "self", "fixed", 1, 1)
    ]
    assert [a for (a,) in env.sql("SELECT event FROM alerts")] == [events.ALERT_WORKER_DOWN]

    # The runs are on the instance, each with the key the daemon would have deduplicated on.
    keys = sorted(r.tags.get("dagster/run_key", "") for r in instance.get_runs())
    assert keys[0] == f"earnings:AAPL:{report.isoformat()}"
    assert keys[1].startswith("history:") and keys[2].startswith("reconcile:schedule:")
    # Nothing left to do: every sensor now skips with a sentence.
    for name in ("pre_earnings_sensor", "position_history_sensor"):
        tick = env.tick(defs.resolve_sensor_def(name), instance, cursor=None)
        assert not tick.run_requests and tick.skip_message, name
