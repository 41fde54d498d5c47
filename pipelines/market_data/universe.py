"""The universe: symbols held at the broker plus the configured watchlist."""

from __future__ import annotations

import dagster as dg
import duckdb
import polars as pl

from pipelines.common import WAREHOUSE_POOL, now_utc, table_metadata
from pipelines.resources import BrokerResource, PipelineConfigResource, WarehouseResource
from position_manager.broker_types import BrokerPosition
from warehouse.frames import insert_frame
from warehouse.tables import UNIVERSE

UNIVERSE_SCHEMA = {
    "symbol": pl.String,
    "held": pl.Boolean,
    "on_watchlist": pl.Boolean,
    "qty": pl.Float64,
    "side": pl.String,
    "avg_entry_price": pl.Float64,
}


def build_universe(positions: list[BrokerPosition], watchlist: tuple[str, ...]) -> pl.DataFrame:
    """One row per symbol; a held symbol on the watchlist is both `held` and `on_watchlist`."""
    rows: dict[str, dict[str, object]] = {}
    for position in positions:
        rows[position.symbol.upper()] = {
            "symbol": position.symbol.upper(),
            "held": True,
            "on_watchlist": False,
            "qty": float(position.qty),
            "side": "short" if position.is_short else "long",
            "avg_entry_price": float(position.avg_entry_price),
        }
    for symbol in watchlist:
        entry = rows.setdefault(
            symbol.upper(),
            {"symbol": symbol.upper(), "held": False, "qty": None, "side": None,
             "avg_entry_price": None},
        )  # fmt: skip
        entry["on_watchlist"] = True
    for entry in rows.values():
        entry.setdefault("on_watchlist", False)
    return pl.DataFrame(list(rows.values()), schema=UNIVERSE_SCHEMA).sort("symbol")


@dg.asset(
    group_name="market_data",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Symbols to manage: open positions at the broker plus WATCHLIST.",
)
def universe(
    broker: BrokerResource, duckdb: WarehouseResource, pm_config: PipelineConfigResource
) -> dg.MaterializeResult:
    frame = build_universe(broker.get_broker().list_positions(), pm_config.settings().watchlist)
    as_of = now_utc()
    with duckdb.get_connection() as conn:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DELETE FROM {UNIVERSE}")
        insert_frame(conn, UNIVERSE, frame.with_columns(as_of=pl.lit(as_of)))
        conn.execute("COMMIT")
    return dg.MaterializeResult(
        metadata=table_metadata(
            frame,
            held=int(frame["held"].sum()),
            watchlist_only=int((~frame["held"]).sum()),
        )
    )


def universe_symbols(conn: duckdb.DuckDBPyConnection, *, held_only: bool = False) -> list[str]:
    """Symbols in the last materialized universe (downstream assets read it from the warehouse)."""
    where = " WHERE held" if held_only else ""
    rows = conn.execute(f"SELECT symbol FROM {UNIVERSE}{where} ORDER BY symbol").fetchall()
    return [symbol for (symbol,) in rows]
