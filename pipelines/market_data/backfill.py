"""Daily bars a replay needs that the refresh never stored (a what-if over months, when the
daily refresh keeps only the ATR's lookback): fetched through the broker for the sessions the
warehouse lacks, and added without touching the rows already there (the refresh's own)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import polars as pl

from broker.interface import Broker
from pipelines.common import now_utc
from pipelines.market_data.daily_bars import fetch_bars
from position_manager.market_calendar import market_days
from warehouse.frames import insert_frame
from warehouse.tables import DAILY_BARS


def backfill_daily_bars(
    conn: duckdb.DuckDBPyConnection,
    broker: Broker,
    symbols: Sequence[str],
    first: date,
    last: date,
    source: str,
) -> int:
    """Bars for first..last of `symbols` not in the warehouse yet; returns the rows added."""
    sessions = {d.date for d in market_days(first, last)}
    have = conn.execute(
        f"SELECT symbol, date FROM {DAILY_BARS} WHERE symbol IN (SELECT unnest(?::VARCHAR[])) "
        "AND date BETWEEN ? AND ?",
        [list(symbols), first, last],
    ).fetchall()
    stored = {(s, d) for s, d in have}
    wanted = [s for s in symbols if any((s, d) not in stored for d in sessions)]
    if not wanted:
        return 0
    frame = fetch_bars(broker, wanted, first, last)
    if frame.is_empty():
        return 0
    keys = pl.DataFrame(list(stored), schema={"symbol": pl.String, "date": pl.Date}, orient="row")
    fresh = frame.join(keys, on=["symbol", "date"], how="anti")
    return insert_frame(
        conn, DAILY_BARS, fresh.with_columns(source=pl.lit(source), loaded_at=pl.lit(now_utc()))
    )
