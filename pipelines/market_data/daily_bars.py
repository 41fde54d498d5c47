"""Daily bars per New York trading date, fetched through the broker in multi-symbol requests.

Single-run backfills: a range of partitions is one run, its bars fetched in as few pages as
Alpaca allows (`broker.bar_pages`: each request's symbols fill whole 10,000-bar pages) and turned
into columns without a Python object per bar. Re-materializing deletes the window's rows, then
inserts, in one transaction: never duplicates, never a half-replaced window. Bars breaking the
OHLC rules are stored with their `quality_issue` (and fail the `ohlc_sane` check) but never reach
the ATR.
"""

# No `from __future__ import annotations` here: Dagster checks the `context` annotation's type.

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from broker.interface import Broker
from pipelines.common import (
    DAILY_PARTITIONS,
    NEW_YORK,
    WAREHOUSE_POOL,
    markdown_table,
    now_utc,
    table_metadata,
)
from pipelines.lib.ohlc import flag_bars
from pipelines.market_data.universe import universe, universe_symbols
from pipelines.resources import BrokerResource, WarehouseResource
from position_manager.market_calendar import closed_sessions
from warehouse.frames import insert_frame
from warehouse.tables import DAILY_BARS

BAR_SCHEMA = {
    "symbol": pl.String,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}


def fetch_bars(broker: Broker, symbols: Sequence[str], first: date, last: date) -> pl.DataFrame:
    """Bars dated first..last (New York dates) for `symbols`, flagged by the OHLC rules."""
    start = datetime.combine(first, datetime.min.time(), NEW_YORK)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), NEW_YORK)
    end -= timedelta(seconds=1)
    columns = broker.get_daily_bar_columns(symbols, start, end)
    prices = {
        name: pl.Series(name, getattr(columns, name), dtype=pl.Float64, strict=False)
        for name in ("open", "high", "low", "close", "volume")
    }
    frame = pl.DataFrame(
        [
            pl.Series("symbol", columns.symbol, dtype=pl.String).str.to_uppercase(),
            _new_york_dates(pl.Series("timestamp", columns.timestamp, dtype=pl.String)),
            *prices.values(),
        ]
    )
    frame = frame.filter(pl.col("date").is_between(first, last))
    return flag_bars(frame.unique(["symbol", "date"], keep="last").sort("symbol", "date"))


def _new_york_dates(stamps: pl.Series) -> pl.Series:
    """Each RFC 3339 bar time's New York date (a daily bar is stamped at its session's
    midnight in New York: 04:00 or 05:00 UTC)."""
    moments = stamps.str.to_datetime(time_unit="us", time_zone="UTC")
    return moments.dt.convert_time_zone(str(NEW_YORK)).dt.date().alias("date")


def missing_sessions(
    frame: pl.DataFrame, symbols: Sequence[str], first: date, last: date, now: datetime
) -> dict[str, list[date]]:
    """Per symbol, the closed XNYS sessions in the window that have no bar."""
    sessions = closed_sessions(first, last, now=now)
    if not sessions or not symbols:
        return {}
    expected = pl.DataFrame({"symbol": list(symbols)}, schema={"symbol": pl.String}).join(
        pl.DataFrame({"date": sessions}, schema={"date": pl.Date}), how="cross"
    )
    absent = expected.join(
        frame.select("symbol", "date"), on=["symbol", "date"], how="anti", maintain_order="left"
    )
    grouped = absent.group_by("symbol", maintain_order=True).agg(pl.col("date"))
    return dict(zip(grouped["symbol"].to_list(), grouped["date"].to_list(), strict=True))


@dg.asset(
    deps=[universe],
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="market_data",
    kinds={"duckdb", "polars"},
    pool=WAREHOUSE_POOL,
    description="OHLCV bars per symbol and New York trading date, from the broker.",
    check_specs=[
        dg.AssetCheckSpec(
            "ohlc_sane",
            asset="daily_bars",
            description="No bar with a missing/NaN/non-positive price or high below low.",
        ),
        dg.AssetCheckSpec(
            "no_missing_trading_days",
            asset="daily_bars",
            description="Every universe symbol has a bar for every closed XNYS session.",
        ),
    ],
)
def daily_bars(
    context: AssetExecutionContext, broker: BrokerResource, duckdb: WarehouseResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    first = window.start.date()
    last = (window.end - timedelta(days=1)).date()
    with duckdb.get_connection() as conn:
        symbols = universe_symbols(conn)
        frame = fetch_bars(broker.get_broker(), symbols, first, last) if symbols else None
        if frame is None:
            frame = flag_bars(pl.DataFrame(schema=BAR_SCHEMA))
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {DAILY_BARS} WHERE date BETWEEN ? AND ?", [first, last])
        insert_frame(conn, DAILY_BARS, frame.with_columns(
            source=pl.lit(broker.kind), loaded_at=pl.lit(now_utc())
        ))  # fmt: skip
        conn.execute("COMMIT")
    flagged = frame.filter(pl.col("quality_issue").is_not_null())
    gaps = missing_sessions(frame, symbols, first, last, now_utc())
    no_data = sorted(set(symbols) - set(frame["symbol"].unique().to_list()))
    gap_table = pl.DataFrame(
        {"symbol": list(gaps), "missing": [", ".join(map(str, d[:10])) for d in gaps.values()]},
        schema={"symbol": pl.String, "missing": pl.String},
    )
    if flagged.height:
        context.log.warning(f"daily_bars flagged={flagged.height} window={first}..{last}")
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame,
            window=f"{first}..{last}",
            symbols_requested=len(symbols),
            symbols_without_bars=", ".join(no_data) or "none",
            flagged_bars=flagged.height,
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="ohlc_sane",
                passed=flagged.height == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "flagged_bars": flagged.height,
                    "flagged": dg.MetadataValue.md(
                        markdown_table(flagged.select("symbol", "date", "quality_issue"))
                    ),
                },
            ),
            dg.AssetCheckResult(
                check_name="no_missing_trading_days",
                passed=not gaps,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "symbols_with_gaps": len(gaps),
                    "gaps": dg.MetadataValue.md(markdown_table(gap_table)),
                },
            ),
        ],
    )
