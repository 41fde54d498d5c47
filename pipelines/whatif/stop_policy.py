"""`stop_policy_comparison`: what would another stop setting have done to this book?

One static partition per named settings set (`pipelines.whatif.sets`). Materializing a
partition replays the book's symbols over the window (the last `months` up to the last closed
session) through the live worker with that set's settings, in a process of its own
(`python -m app.replay`: the replay sits above the pipeline, and a process keeps its Redis,
simulator and worker apart from Dagster's), and records the run in the warehouse. The metadata
compares every set's latest run over the same window: realized P&L, worst drawdown, orders,
longest unprotected window, stop-outs and those followed by recovery, as a table and a chart.
"""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from dagster import AssetExecutionContext

from pipelines.charts import stop_policy_chart
from pipelines.common import WAREHOUSE_POOL, markdown_table, new_york_today, now_utc
from pipelines.resources import PipelineConfigResource, WarehouseResource
from pipelines.whatif.sets import WhatIfSets
from position_manager.market_calendar import market_days
from warehouse.tables import REPLAY_RUNS

REPLAY_TIMEOUT_S = 3600
COMPARED = (
    "settings_set", "realized_pnl", "unrealized_pnl", "worst_drawdown", "orders",
    "longest_unprotected_s", "stop_outs", "stop_outs_recovered", "run_id",
)  # fmt: skip


def last_closed_session(today: date) -> date:
    return market_days(today - timedelta(days=14), today - timedelta(days=1))[-1].date


def replay_command(name: str, overrides: dict[str, str], first: date, last: date) -> list[str]:
    command = [sys.executable, "-m", "app.replay", "--from", first.isoformat(),
               "--to", last.isoformat(), "--settings-set", name, "--json",
               "--run-id", f"whatif-{name}-{first.isoformat()}-{last.isoformat()}"]  # fmt: skip
    for key, value in sorted(overrides.items()):
        command += ["--set", f"{key}={value}"]
    return command


def comparison(conn: duckdb.DuckDBPyConnection, first: date, last: date) -> pl.DataFrame:
    """Every set's latest finished run over first..last."""
    cursor = conn.execute(
        f"""
        SELECT {", ".join(COMPARED)} FROM {REPLAY_RUNS}
        WHERE settings_set IS NOT NULL AND status = 'ok' AND first_day = ? AND last_day = ?
        QUALIFY row_number() OVER (PARTITION BY settings_set ORDER BY finished_at DESC) = 1
        ORDER BY settings_set
        """,
        [first, last],
    )
    rows = cursor.fetchall()
    frame = pl.DataFrame(rows, schema=list(COMPARED), orient="row", infer_schema_length=None)
    return frame.with_columns(
        pl.col("realized_pnl", "unrealized_pnl", "worst_drawdown").cast(pl.Float64)
    ) if frame.height else frame  # fmt: skip


def build_stop_policy_asset(sets: WhatIfSets) -> dg.AssetsDefinition:
    partitions = dg.StaticPartitionsDefinition(sorted(sets.sets))

    @dg.asset(
        name="stop_policy_comparison",
        partitions_def=partitions,
        # What a replay reads: the book, the bars (through the ATR's lineage), cap classes and
        # report dates; the history it starts from is the worker's, outside the asset graph.
        deps=["universe", "atr", "symbol_profiles", "earnings_calendar"],
        group_name="what_if",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        code_version="whatif-v1",
        description="The book replayed through the live worker under one named settings set "
        "(sets.yaml); metadata: every set's score over the same window, table and chart.",
    )
    def stop_policy_comparison(
        context: AssetExecutionContext,
        duckdb: WarehouseResource,
        pm_config: PipelineConfigResource,
    ) -> dg.MaterializeResult:
        name = context.partition_key
        settings = pm_config.settings()
        first, last = sets.window(last_closed_session(new_york_today(now_utc())))
        command = replay_command(name, sets.sets[name], first, last)
        # The replay writes where this asset reads: the warehouse resource's directory.
        env = {**os.environ, "DATA_DIR": str(Path(duckdb.database).parent),
               "SIMULATOR_PORT": str(settings.simulator_port)}  # fmt: skip
        context.log.info(f"replaying {first}..{last} with set {name}: {' '.join(command[2:])}")
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=REPLAY_TIMEOUT_S, env=env
        )
        if done.returncode != 0:
            raise dg.Failure(
                f"the replay for set {name} failed ({done.returncode}): "
                + ((done.stdout.strip() or done.stderr.strip()).splitlines() or ["-"])[-1][:500],
                metadata={"output": dg.MetadataValue.text((done.stdout + done.stderr)[-4000:])},
            )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        with duckdb.get_connection() as conn:
            table = comparison(conn, first, last)
        return dg.MaterializeResult(
            metadata={
                "settings_set": name,
                "overrides": dg.MetadataValue.json(sets.sets[name]),
                "window": f"{first} .. {last}",
                "run_id": result["run_id"],
                "realized_pnl": float(result["realized_pnl"]),
                "worst_drawdown": float(result["worst_drawdown"]),
                "orders": int(result["orders"]),
                "longest_unprotected_s": float(result["longest_unprotected_s"]),
                "stop_outs": int(result["stop_outs"]),
                "stop_outs_recovered": int(result["stop_outs_recovered"]),
                "comparison": dg.MetadataValue.md(markdown_table(table)),
                "comparison_chart": stop_policy_chart(table.rows(named=True)),
                "dagster/row_count": table.height,
            }
        )

    return stop_policy_comparison
