"""Pre-earnings: one run per held symbol and report date; the job reduces through the worker
when it is alive and itself when it is down, never twice; bad inputs skip with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg

from pipelines.protection.earnings_reduction import reduce_for_earnings_job
from pipelines.protection.earnings_sensor import pre_earnings_sensor
from position_manager import events, redis_schema
from position_manager.market_calendar import NEW_YORK
from tests.pipelines.conftest import Env, new_york_today, step_metadata
from tests.support.simulator import REGULAR_AT
from tests.support.worker_harness import Harness


def _protected_long(env: Env, symbol: str = "AAPL") -> None:
    env.hold(symbol, 100, "100")
    env.stop_order(symbol, 100, "88", f"manual-{symbol}")
    env.session("REGULAR")


def test_worker_down_one_run_per_report_halves_once_and_shrinks_the_stop_first(
    env: Env, instance: dg.DagsterInstance
) -> None:
    _protected_long(env)
    report = new_york_today() + timedelta(days=3)
    env.risk("AAPL", report)
    tick = env.tick(pre_earnings_sensor, instance)
    assert [r.run_key for r in tick.run_requests] == [f"earnings:AAPL:{report.isoformat()}"]

    result = env.launch(reduce_for_earnings_job, instance, tick.run_requests[0])
    meta = step_metadata(result, "reduce_position_for_earnings")
    assert (meta["executed_by"], meta["outcome"], meta["shares_sold"]) == (
        "dagster", "reduced", "50")  # fmt: skip
    assert env.qty("AAPL") == 50
    assert [(s.qty, s.stop_price) for s in env.stops("AAPL")] == [(50, Decimal("88"))]
    reductions = env.events(events.POSITION_EARNINGS_REDUCTION)
    assert [(r["report_date"], r["shares_sold"]) for r in reductions] == [
        (report.isoformat(), "50")
    ]
    key = redis_schema.POSITION_STATE_KEY.format(symbol="AAPL")
    state = env.client.hget(key, "earnings_reduced_for")
    assert state == report.isoformat().encode()

    done = env.tick(pre_earnings_sensor, instance)
    assert not done.run_requests and "already reduced: AAPL" in (done.skip_message or "")
    repeat = env.launch(reduce_for_earnings_job, instance, tick.run_requests[0])  # forced twice
    assert step_metadata(repeat, "reduce_position_for_earnings")["shares_sold"] == "0"
    assert env.qty("AAPL") == 50


def test_worker_alive_the_job_sends_the_command_and_the_worker_sells(
    harness: Harness, env: Env, instance: dg.DagsterInstance
) -> None:
    # The worker records the broker's clock: the sensor and the job count from its date.
    report = REGULAR_AT.astimezone(NEW_YORK).date() + timedelta(days=2)
    env.risk("AAPL", None)  # the worker's own daily check must not pre-empt the command
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    env.risk("AAPL", report)
    tick = env.tick(pre_earnings_sensor, instance)
    request = tick.run_requests[0]
    config = request.run_config["ops"]["reduce_position_for_earnings"]["config"]
    no_wait = {**config, "confirm_timeout_seconds": 0}
    request = request.with_replaced_attrs(
        run_config={"ops": {"reduce_position_for_earnings": {"config": no_wait}}}
    )
    result = env.launch(reduce_for_earnings_job, instance, request)
    meta = step_metadata(result, "reduce_position_for_earnings")
    assert meta["executed_by"] == "worker"
    assert env.qty("AAPL") == 100  # the job itself sold nothing
    commands = env.events(events.COMMAND_REDUCE_FOR_EARNINGS, events.COMMANDS_STREAM)
    assert [(c["symbol"], c["report_date"]) for c in commands] == [("AAPL", report.isoformat())]
    harness.settle()
    assert env.qty("AAPL") == 50


def test_bad_inputs_skip_with_a_reason(env: Env, instance: dg.DagsterInstance) -> None:
    _protected_long(env, "AAPL")
    env.hold("NVDA", 10, "118.5")
    env.hold("KO", 10, "60")
    env.risk("NVDA", new_york_today() + timedelta(days=2), datetime.now(UTC) - timedelta(days=9))
    env.risk("KO", None)
    tick = env.tick(pre_earnings_sensor, instance)
    reason = tick.skip_message or ""
    assert not tick.run_requests
    assert "no risk parameters in Redis (run daily_risk_refresh): AAPL" in reason
    assert "older than 3 days, not trusted: NVDA" in reason
    assert "no report date: KO" in reason

    env.session("CLOSED")
    closed = env.tick(pre_earnings_sensor, instance)
    assert "session is CLOSED" in (closed.skip_message or "")
