"""Each symbol's stop/target/trail distances, written to DuckDB and published to Redis.

The streaming worker never opens DuckDB: it reads the hash at `RISK_PARAMS_KEY` (string fields,
see `pipelines.lib.risk.redis_fields`). Publishing is one MULTI/EXEC, so the worker never sees a
half-written hash, with a `risk.parameters_updated` that makes it read them at once.
"""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

from dataclasses import fields
from datetime import date, datetime
from typing import Any, cast

import dagster as dg
import duckdb
import polars as pl
import redis
from dagster import AssetExecutionContext

from pipelines.charts import stop_distance_chart
from pipelines.common import WAREHOUSE_POOL, new_york_today, now_utc, table_metadata
from pipelines.lib.risk import RiskInputs, RiskParameters, redis_fields, risk_parameters_for
from pipelines.market_data.universe import universe
from pipelines.resources import PipelineConfigResource, RedisResource, WarehouseResource
from pipelines.risk.atr import atr
from pipelines.risk.earnings_calendar import earnings_calendar
from pipelines.risk.symbol_profiles import symbol_profiles
from position_manager.events import RISK_PARAMETERS_UPDATED, RISK_STREAM, encode_event
from position_manager.redis_schema import RISK_PARAMS_KEY
from rules.params import RuleParams
from warehouse.frames import insert_frame
from warehouse.tables import (
    EARNINGS_CALENDAR,
    LATEST_ATR,
    RISK_PARAMETERS,
    SYMBOL_PROFILES,
    UNIVERSE,
)


def gather_inputs(
    conn: duckdb.DuckDBPyConnection, *, period: int, method: str, today: date
) -> list[RiskInputs]:
    """Join universe, profiles, latest ATR and the next report date, one row per symbol."""
    rows = conn.execute(
        f"""
        SELECT u.symbol,
               coalesce(p.cap_class, 'large'),
               p.market_cap,
               coalesce(p.source, 'missing'),
               u.avg_entry_price::DOUBLE,
               a.close,
               a.atr,
               a.atr_pct,
               coalesce(a.reason, CASE WHEN a.symbol IS NULL THEN 'no bars in the warehouse' END),
               (SELECT min(e.report_date) FROM {EARNINGS_CALENDAR} AS e
                 WHERE e.symbol = u.symbol AND e.report_date >= ?)
        FROM {UNIVERSE} AS u
        LEFT JOIN {SYMBOL_PROFILES} AS p ON p.symbol = u.symbol
        LEFT JOIN {LATEST_ATR} AS a ON a.symbol = u.symbol AND a.period = ? AND a.method = ?
        ORDER BY u.symbol
        """,
        [today, period, method],
    ).fetchall()
    return [RiskInputs(*row) for row in rows]


def parameters_frame(parameters: list[RiskParameters]) -> pl.DataFrame:
    """One row per symbol, a column per field (built by column: `asdict` per row cost a second
    at 5,000 symbols)."""
    if not parameters:
        return pl.DataFrame()
    names = [f.name for f in fields(RiskParameters)]
    return pl.DataFrame({name: [getattr(p, name) for p in parameters] for name in names})


def publish(client: redis.Redis, parameters: list[RiskParameters], as_of: datetime) -> None:
    """The hashes and a `risk.parameters_updated` on the risk stream, in one MULTI/EXEC: the
    worker reads the new parameters at once (and re-plans its fallback stops) instead of after
    ATR_CACHE_TTL, and never before they are all written."""
    pipe = client.pipeline(transaction=True)
    for rp in parameters:
        key = RISK_PARAMS_KEY.format(symbol=rp.symbol)
        pipe.delete(key)
        pipe.hset(key, mapping=cast(Any, redis_fields(rp)))
    notice = {"symbols": [rp.symbol for rp in parameters], "as_of": as_of}
    pipe.xadd(RISK_STREAM, cast(Any, encode_event(RISK_PARAMETERS_UPDATED, notice)))
    pipe.execute()


@dg.asset(
    deps=[universe, atr, symbol_profiles, earnings_calendar],
    group_name="risk",
    kinds={"duckdb", "redis"},
    pool=WAREHOUSE_POOL,
    code_version="risk-v1",
    description="Per symbol: stop %, target %, trail %, cap class, next report date; "
    "published to Redis for the streaming worker.",
)
def risk_parameters(
    context: AssetExecutionContext,
    duckdb: WarehouseResource,
    redis: RedisResource,
    pm_config: PipelineConfigResource,
) -> dg.MaterializeResult:
    settings = pm_config.settings()
    params = RuleParams.from_settings(settings)
    as_of = now_utc()
    period, method = settings.atr_period, settings.atr_method.value
    with duckdb.get_connection() as conn:
        inputs = gather_inputs(conn, period=period, method=method, today=new_york_today(as_of))
        parameters = [
            risk_parameters_for(i, params, atr_period=period, atr_method=method, as_of=as_of)
            for i in inputs
        ]
        frame = parameters_frame(parameters)
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {RISK_PARAMETERS}")
        if not frame.is_empty():
            insert_frame(
                conn,
                RISK_PARAMETERS,
                frame.with_columns(pl.col("stop_pct", "target_pct", "trail_pct").cast(pl.Float64)),
            )
        conn.execute("COMMIT")
    with redis.get_client() as client:
        publish(client, parameters, as_of)
    fallback = [p.symbol for p in parameters if p.stop_method == "fallback"]
    if fallback:
        context.log.warning(f"risk_parameters fallback stops symbols={fallback}")
    shown = (
        frame.select(
            "symbol", "cap_class", "atr", "reference_price", "stop_pct", "target_pct",
            "trail_pct", "stop_method", "next_report_date",
        )
        if not frame.is_empty()
        else frame
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata=table_metadata(
            shown,
            published_to_redis=len(parameters),
            redis_key=RISK_PARAMS_KEY,
            fallback_stops=", ".join(fallback) or "none",
            stop_chart=stop_distance_chart(
                [(p.symbol, p.stop_pct, p.stop_method) for p in parameters]
            ),
        )
    )
