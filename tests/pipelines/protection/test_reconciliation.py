"""Reconciliation: the sensor fires on a stale heartbeat or an unprotected-position alert, the
schedule by session, and the job fixes stops itself only when the worker is down."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg

from pipelines.protection.reconciliation import reconcile_positions_job
from pipelines.protection.reconciliation_schedule import reconciliation_schedule, schedule_decision
from pipelines.protection.reconciliation_sensor import reconciliation_sensor
from position_manager import events, redis_schema
from position_manager.events import publish
from tests.pipelines.conftest import Env, step_metadata


def _messy_book(env: Env) -> None:
    """AAPL without a stop; NVDA with two half-size stops (a duplicate, and the one kept is
    mis-sized); a MSFT stop without a position."""
    env.hold("AAPL", 100, "100")
    env.hold("NVDA", 40, "118.5")
    env.stop_order("NVDA", 20, "105", "manual-nvda-1")
    env.stop_order("NVDA", 20, "100", "manual-nvda-2")
    env.hold("MSFT", 10, "400")
    env.stop_order("MSFT", 10, "380", "manual-msft")
    env.sim.simulator.engine.book.positions.pop("MSFT")  # sold by hand: its stop is an orphan
    env.session("REGULAR")


def test_worker_down_sensor_requests_a_run_that_fixes_the_stops_itself(
    env: Env, instance: dg.DagsterInstance
) -> None:
    _messy_book(env)
    tick = env.tick(reconciliation_sensor, instance)
    assert len(tick.run_requests) == 1
    assert tick.run_requests[0].run_key.startswith("reconcile:worker-down:")
    again = env.tick(reconciliation_sensor, instance, cursor=tick.cursor)
    assert not again.run_requests and "next one in" in (again.skip_message or "")
    assert (again.skip_message or "").startswith("The worker has no heartbeat (it is not running);")

    result = env.launch(reconcile_positions_job, instance, tick.run_requests[0])
    assert result.success
    assert [(s.qty, s.stop_price) for s in env.stops("AAPL")] == [(100, Decimal("88.00"))]
    # the tighter one kept, resized to the position
    assert [(s.qty, s.stop_price) for s in env.stops("NVDA")] == [(40, Decimal("105"))]
    assert env.stops("MSFT") == []
    meta = step_metadata(result, "reconcile_positions")
    assert (meta["mode"], meta["found"], meta["fixed"], meta["remaining"]) == ("self", 4, 4, 0)
    rows = env.sql("SELECT mode, status, found, fixed, remaining, stops_placed FROM "
                   "reconciliation_runs")  # fmt: skip
    assert rows == [("self", "fixed", 4, 4, 0, 1)]
    assert sorted(e["symbol"] for e in env.events(events.POSITION_STOP_SET)) == ["AAPL", "NVDA"]
    state = env.client.hgetall(redis_schema.POSITION_STATE_KEY.format(symbol="AAPL"))
    assert state[b"stop_order_id"] == env.stops("AAPL")[0].id.encode()
    assert env.client.keys("pm:lease:*") == []  # every lease released
    assert env.events(events.ALERT_WORKER_DOWN, events.ALERTS_STREAM)


def test_worker_alive_the_job_only_asks_the_worker(env: Env, instance: dg.DagsterInstance) -> None:
    _messy_book(env)
    env.worker_alive()
    request = dg.RunRequest(run_key="manual", run_config={})
    result = env.launch(reconcile_positions_job, instance, request)
    assert env.stops("AAPL") == [] and len(env.stops("NVDA")) == 2  # nothing touched
    commands = env.events(events.COMMAND_RECONCILE, events.COMMANDS_STREAM)
    assert [c["found"] for c in commands] == [4]
    meta = step_metadata(result, "reconcile_positions")
    assert (meta["mode"], meta["status"], meta["fixed"], meta["remaining"]) == (
        "worker", "delegated", 0, 4)  # fmt: skip
    assert env.sql("SELECT status, found FROM reconciliation_runs") == [("delegated", 4)]


def test_an_unprotected_alert_triggers_one_run_per_alert(
    env: Env, instance: dg.DagsterInstance
) -> None:
    env.worker_alive()
    quiet = env.tick(reconciliation_sensor, instance)
    assert not quiet.run_requests and "no position was reported unprotected" in (
        quiet.skip_message or "")  # fmt: skip
    assert (quiet.skip_message or "").startswith("The worker is alive (heartbeat ")
    stream_id = publish(env.client, events.ALERT_UNPROTECTED, {"symbol": "AAPL", "message": "x"})
    publish(env.client, events.ALERT_LARGE_LOSS, {"symbol": "NVDA", "message": "y"})
    tick = env.tick(reconciliation_sensor, instance, cursor=quiet.cursor)
    assert [r.run_key for r in tick.run_requests] == [f"reconcile:alert:{stream_id}"]
    assert tick.run_requests[0].tags["pm/symbols"] == "AAPL"
    after = env.tick(reconciliation_sensor, instance, cursor=tick.cursor)
    assert not after.run_requests
    assert json.loads(after.cursor or "{}")["alerts_after"] != "0-0"


def test_schedule_runs_every_tick_in_sessions_and_hourly_when_closed() -> None:
    regular = datetime(2026, 11, 24, 15, 5, tzinfo=UTC)  # Tue 10:05 New York
    night = datetime(2026, 11, 25, 3, 5, tzinfo=UTC)  # Tue 22:05 New York
    night_hour = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert schedule_decision(regular, 5, 60)[0] is True
    assert schedule_decision(night, 5, 60)[0] is False
    assert schedule_decision(night_hour, 5, 60)[0] is True
    with dg.build_schedule_context(scheduled_execution_time=regular) as context:
        tick = reconciliation_schedule.evaluate_tick(context)
    assert [r.run_config for r in tick.run_requests or []] == [
        {"ops": {"reconcile_positions": {"config": {"trigger": "schedule"}}}}
    ]
    with dg.build_schedule_context(scheduled_execution_time=night) as context:
        skipped = reconciliation_schedule.evaluate_tick(context)
    assert not skipped.run_requests and "every 60 minutes" in (skipped.skip_message or "")
    assert (skipped.skip_message or "").startswith("The market is closed at 22:05 New York")
