"""Position history: the sensor asks for a run when the streams moved; the job appends each
message exactly once (by stream id) and the views work on what it wrote."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import dagster as dg
import redis

from pipelines.history.jobs import ingest_position_history
from pipelines.history.sensors import position_history_sensor
from pipelines.resources import PipelineConfigResource, RedisResource
from position_manager import events
from position_manager.events import publish
from position_manager.redis_schema import HISTORY_INGESTED_KEY
from tests.pipelines.conftest import Env, step_metadata
from tests.support.worker_harness import Harness, risk_params

KEY = "AAPL-l-0123456789"


def _book(client: redis.Redis) -> None:
    """Bought 100 @ 100, half sold before earnings (decided at 120, filled at 119.50), the rest
    closed @ 110."""
    opened = {"symbol": "AAPL", "quantity": "100", "entry_price": "100", "stop_price": "92",
              "side": "long", "position_key": KEY}  # fmt: skip
    publish(client, events.POSITION_OPENED, opened)
    publish(client, events.POSITION_STOP_SET, {"symbol": "AAPL", "stop_price": "92", "qty": "100"})
    reduction = {"symbol": "AAPL", "shares_sold": "50", "current_price": "120"}
    publish(client, events.POSITION_EARNINGS_REDUCTION, reduction)
    sold = {"symbol": "AAPL", "price": "119.50", "quantity": "50", "shares": "50",
            "realized_pnl": "975", "pnl": "975", "reason": "exit"}  # fmt: skip
    publish(client, events.POSITION_REDUCED, sold)
    closed = {"symbol": "AAPL", "exit_price": "110", "pnl": "1475", "quantity_closed": "50"}
    publish(client, events.POSITION_CLOSED, closed)
    for status, filled in (("new", "0"), ("filled", "100")):
        publish(client, f"order.{'new' if status == 'new' else 'filled'}", {
            "order_id": "o-1", "client_order_id": f"pm-{KEY}-stop-g0", "symbol": "AAPL",
            "side": "sell", "order_type": "stop", "qty": "100", "filled_qty": filled,
            "filled_avg_price": "110" if filled != "0" else None, "status": status})  # fmt: skip
    publish(client, events.ALERT_UNPROTECTED, {"symbol": "NVDA", "message": "no stop"})


def test_sensor_requests_one_run_and_the_job_ingests_every_stream_once(
    env: Env, instance: dg.DagsterInstance
) -> None:
    _book(env.client)
    tick = env.tick(position_history_sensor, instance)
    assert len(tick.run_requests) == 1
    assert tick.run_requests[0].run_key.startswith("history:")
    again = env.tick(position_history_sensor, instance, cursor=tick.cursor)
    assert not again.run_requests
    assert "requested" in (again.skip_message or "")

    result = env.launch(ingest_position_history, instance, tick.run_requests[0])
    assert result.success
    meta = step_metadata(result, "ingest_stream_events")
    assert (meta["positions_written"], meta["orders_written"], meta["alerts_written"]) == (5, 2, 1)
    env.launch(ingest_position_history, instance, tick.run_requests[0])  # fired twice: harmless

    assert env.sql("SELECT count(*) FROM position_events") == [(5,)]
    history = env.sql(
        "SELECT event, position_key, quantity, price, realized_pnl FROM position_history"
    )
    assert history == [
        ("position.opened", KEY, Decimal(100), Decimal(100), None),
        ("position.stop_set", KEY, None, None, None),
        ("position.earnings_reduction", KEY, None, Decimal(120), None),  # the decision
        ("position.reduced", KEY, Decimal(50), Decimal("119.5"), Decimal(975)),  # the fill
        ("position.closed", KEY, Decimal(0), Decimal(110), Decimal(500)),
    ]
    assert env.sql("SELECT symbol, exited_qty, realized_pnl FROM closed_trades") == [
        ("AAPL", Decimal(100), Decimal(1475))
    ]
    assert env.sql("SELECT sum(realized_pnl) FROM daily_pnl") == [(Decimal(1475),)]
    chart = meta["pnl_chart"]  # P&L per session date, drawn for the Dagster UI
    assert isinstance(chart, str) and chart.startswith("![P&L per session date](data:image/png;")
    assert env.sql("SELECT status, qty, filled_qty, action, position_key FROM orders") == [
        ("filled", Decimal(100), Decimal(100), "stop", KEY)
    ]
    assert env.sql("SELECT event, symbol, message FROM alerts") == [
        ("alert.unprotected_position", "NVDA", "no stop")
    ]
    up_to_date = env.tick(position_history_sensor, instance, cursor=tick.cursor)
    assert not up_to_date.run_requests
    assert "already holds every" in (up_to_date.skip_message or "")


def test_a_malformed_message_is_skipped_and_counted_not_fatal(
    env: Env, instance: dg.DagsterInstance
) -> None:
    env.client.xadd(events.POSITIONS_STREAM, {"event": "position.opened", "data": "{not json"})
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "KO", "stop_price": "55"})
    tick = env.tick(position_history_sensor, instance)
    result = env.launch(ingest_position_history, instance, tick.run_requests[0])
    meta = step_metadata(result, "ingest_stream_events")
    assert (meta["positions_read"], meta["positions_written"], meta["positions_malformed"]) == (
        2, 1, 1)  # fmt: skip
    assert env.sql("SELECT rows_bad FROM stream_cursors WHERE stream = 'pm:stream:positions'") == [
        (1,)
    ]


def test_redis_down_is_a_skip_with_a_reason(env: Env, instance: dg.DagsterInstance) -> None:
    down = RedisResource(pm_config=PipelineConfigResource(), url="redis://127.0.0.1:1/0")
    with dg.build_sensor_context(instance=instance, resources={"redis": down}) as context:
        tick = position_history_sensor.evaluate_tick(context)
    assert not tick.run_requests
    assert "Redis is unreachable" in (tick.skip_message or "")


def test_a_busy_warehouse_skips_the_run_and_the_next_run_catches_up(
    env: Env, instance: dg.DagsterInstance
) -> None:
    _book(env.client)
    tick = env.tick(position_history_sensor, instance)
    env.launch(ingest_position_history, instance, tick.run_requests[0])  # creates the file
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "KO", "stop_price": "55"})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys; c=duckdb.connect(sys.argv[1]); "
         "print('ok', flush=True); sys.stdin.read()", str(env.duckdb_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        busy = env.launch(ingest_position_history, instance, tick.run_requests[0])
        assert busy.success
        assert "locked by another process" in step_metadata(busy, "ingest_stream_events")["skipped"]
    finally:
        holder.communicate("", timeout=10)
    behind = env.tick(position_history_sensor, instance)
    assert len(behind.run_requests) == 1
    env.launch(ingest_position_history, instance, behind.run_requests[0])
    assert env.sql("SELECT count(*) FROM position_events") == [(6,)]
    ingested = env.client.hget(HISTORY_INGESTED_KEY, events.POSITIONS_STREAM)
    assert ingested is not None


def test_closed_trades_and_daily_pnl_from_a_real_worker_scenario(
    harness: Harness, env: Env, instance: dg.DagsterInstance
) -> None:
    risk_params(harness.client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    harness.quote("AAPL", "120")  # +20%: half sold
    harness.quote("AAPL", "150")  # +50%: the rest
    closed = harness.events(events.POSITION_CLOSED)
    assert len(closed) == 1
    tick = env.tick(position_history_sensor, instance)
    env.launch(ingest_position_history, instance, tick.run_requests[0])
    trades = env.sql(
        "SELECT symbol, side, entry_price, exited_qty, realized_pnl FROM closed_trades"
    )
    assert len(trades) == 1
    symbol, side, entry, exited, realized = trades[0]
    assert (symbol, side, entry, exited) == ("AAPL", "long", Decimal(100), Decimal(100))
    assert realized == Decimal(str(closed[0]["pnl"]))  # the worker's own figure, from the fills
    assert env.sql("SELECT sum(realized_pnl) FROM daily_pnl") == [(realized,)]
    assert env.sql("SELECT count(*) FROM open_positions") == [(0,)]
    statuses = env.sql("SELECT action, status FROM orders WHERE action = 'stop'")
    assert statuses and all(s in ("canceled", "replaced", "filled", "new") for _, s in statuses)
