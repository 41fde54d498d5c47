"""ATR per symbol and date from the warehouse's bars (polars), with its two checks.

`atr_values_sane` is blocking: a non-finite, non-positive or absurd ATR stops the run before
`risk_parameters` publishes it. A missing ATR only warns (`atr_present_for_held_symbols`): it is
expected for a new listing, and the rules then apply the fixed fallback stop.
"""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

import math

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from pipelines.common import WAREHOUSE_POOL, markdown_table, now_utc, table_metadata
from pipelines.lib.atr import atr_series, latest_atr
from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.universe import universe_symbols
from pipelines.resources import PipelineConfigResource, WarehouseResource
from warehouse.frames import insert_frame, read_frame
from warehouse.tables import ATR, DAILY_BARS

# A daily ATR above half the price is not volatility, it is a bad bar or a split the data missed.
MAX_PLAUSIBLE_ATR_PCT = 0.5

BARS_READ_SCHEMA = {
    "symbol": pl.String,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "quality_issue": pl.String,
}


def implausible_atr(latest: pl.DataFrame) -> pl.DataFrame:
    """Latest rows whose ATR is present but cannot be right."""
    return latest.filter(
        pl.col("atr").is_not_null()
        & (
            pl.col("atr").is_nan()
            | pl.col("atr").is_infinite()
            | (pl.col("atr") <= 0)
            | (pl.col("atr_pct") > MAX_PLAUSIBLE_ATR_PCT)
        )
    )


@dg.asset(
    deps=[daily_bars],
    group_name="risk",
    kinds={"duckdb", "polars"},
    pool=WAREHOUSE_POOL,
    code_version="atr-v1",
    description="Average True Range per symbol and date: SMA of true range (default) or Wilder's.",
    check_specs=[
        dg.AssetCheckSpec(
            "atr_values_sane",
            asset="atr",
            blocking=True,
            description="Every latest ATR is finite, positive and below 50% of the close.",
        ),
        dg.AssetCheckSpec(
            "atr_present_for_held_symbols",
            asset="atr",
            description="Every held symbol has an ATR (else its stop uses the fixed fallback).",
        ),
    ],
)
def atr(
    context: AssetExecutionContext, duckdb: WarehouseResource, pm_config: PipelineConfigResource
) -> dg.MaterializeResult:
    settings = pm_config.settings()
    period, method = settings.atr_period, settings.atr_method.value
    with duckdb.get_connection() as conn:
        symbols = universe_symbols(conn)
        held = universe_symbols(conn, held_only=True)
        bars = read_frame(
            conn,
            f"SELECT symbol, date, open, high, low, close, quality_issue FROM {DAILY_BARS} "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol, date",
            [symbols],
            schema=BARS_READ_SCHEMA,
        )
        series = atr_series(bars, period=period, method=method)
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {ATR} WHERE period = ? AND method = ?", [period, method])
        insert_frame(
            conn,
            ATR,
            series.with_columns(
                period=pl.lit(period), method=pl.lit(method), computed_at=pl.lit(now_utc())
            ),
        )
        conn.execute("COMMIT")
    latest = latest_atr(series)
    without_bars = sorted(set(symbols) - set(latest["symbol"].to_list()))
    missing = latest.filter(pl.col("atr").is_null()).select("symbol", "date", "reason")
    missing = pl.concat(
        [
            missing,
            pl.DataFrame(
                {"symbol": without_bars, "date": [None] * len(without_bars),
                 "reason": ["no bars in the warehouse"] * len(without_bars)},
                schema=missing.schema,
            ),
        ]
    )  # fmt: skip
    missing_held = missing.filter(pl.col("symbol").is_in(held))
    bad = implausible_atr(latest)
    if bad.height:
        context.log.error(f"atr implausible symbols={bad['symbol'].to_list()}")
    mean_pct = latest["atr_pct"].drop_nulls().mean()
    return dg.MaterializeResult(
        metadata=table_metadata(
            latest.select("symbol", "date", "close", "atr", "atr_pct", "reason"),
            period=period,
            method=method,
            series_rows=series.height,
            symbols_without_atr=dg.MetadataValue.md(markdown_table(missing)),
            mean_atr_pct=float(mean_pct)
            if isinstance(mean_pct, float) and math.isfinite(mean_pct)
            else 0.0,
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="atr_values_sane",
                passed=bad.is_empty(),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"implausible": dg.MetadataValue.md(markdown_table(bad))},
            ),
            dg.AssetCheckResult(
                check_name="atr_present_for_held_symbols",
                passed=missing_held.is_empty(),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"missing": dg.MetadataValue.md(markdown_table(missing_held))},
            ),
        ],
    )
