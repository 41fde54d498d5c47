"""Minute bars through the broker into the warehouse: what a replay plays back.

Not an asset: a replay asks for the (symbol, day)s it needs and finds the rest already stored.
A day is fetched once per symbol set (every minute of it, extended sessions included, in pages
of 10,000 bars), and stored with delete-then-insert in one transaction, so a re-fetch never
duplicates a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from broker.interface import Broker
from pipelines.common import NEW_YORK, now_utc
from position_manager.market_calendar import MarketDay
from warehouse.frames import insert_frame
from warehouse.tables import MINUTE_BARS

MINUTE_SCHEMA: dict[str, Any] = {
    "symbol": pl.String,
    "ts": pl.Datetime("us", "UTC"),
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}


def day_span(day: MarketDay) -> tuple[datetime, datetime]:
    """04:00 to 20:00 New York: the day's pre-market, regular and after-hours minutes."""
    start = datetime.combine(day.date, datetime.min.time(), NEW_YORK) + timedelta(hours=4)
    return start, start + timedelta(hours=16) - timedelta(seconds=1)


def fetch_minute_bars(broker: Broker, symbols: Sequence[str], day: MarketDay) -> pl.DataFrame:
    start, end = day_span(day)
    rows = [
        (s.upper(), b.timestamp, float(b.open), float(b.high), float(b.low), float(b.close),
         float(b.volume))
        for s, bars in broker.get_minute_bars(symbols, start, end).items()
        for b in bars
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=MINUTE_SCHEMA, orient="row")
    return frame.unique(["symbol", "ts"], keep="last").sort("symbol", "ts")


def store_minute_bars(
    conn: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    symbols: Sequence[str],
    day: MarketDay,
    source: str,
) -> int:
    """Replace the day's minute bars of `symbols` with `frame`; returns the rows stored."""
    start, end = day_span(day)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"DELETE FROM {MINUTE_BARS} WHERE symbol IN (SELECT unnest(?::VARCHAR[])) "
            "AND ts BETWEEN ? AND ?",
            [list(symbols), start, end],
        )
        if not frame.is_empty():
            insert_frame(
                conn,
                MINUTE_BARS,
                frame.with_columns(source=pl.lit(source), loaded_at=pl.lit(now_utc())),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return frame.height
