"""The views a trader queries: history, open positions, closed trades, daily P&L."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from warehouse import tables
from warehouse.connection import open_warehouse


@pytest.fixture
def conn(duckdb_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(duckdb_path) as connection:
        yield connection


def _event(
    conn: duckdb.DuckDBPyConnection,
    stream_id: str,
    event: str,
    ts: str,
    symbol: str,
    key: str,
    side: str,
    *,
    quantity: str | None = None,
    filled_qty: str | None = None,
    price: str | None = None,
    entry_price: str | None = None,
    unrealized: str | None = None,
) -> None:
    conn.execute(
        f"INSERT INTO {tables.POSITION_EVENTS} (stream_id, event_id, event, ts, symbol, "
        "position_key, side, quantity, filled_qty, price, entry_price, unrealized_pnl, data, "
        "ingested_at) VALUES (?, ?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, ?, ?, ?, '{}', now())",
        [stream_id, stream_id, event, ts, symbol, key, side, quantity, filled_qty, price,
         entry_price, unrealized],
    )  # fmt: skip


def _book(conn: duckdb.DuckDBPyConnection) -> None:
    # A long that takes profit on half then stops out; a short closed at a gain; an open long.
    _event(
        conn,
        "1-0",
        "position.opened",
        "2025-03-03 15:00Z",
        "AAPL",
        "AAPL-1",
        "long",
        quantity="100",
        filled_qty="100",
        price="100",
        entry_price="100",
    )
    _event(
        conn,
        "2-0",
        "position.profit_taking",
        "2025-03-04 15:00Z",
        "AAPL",
        "AAPL-1",
        "long",
        quantity="50",
        filled_qty="50",
        price="120",
        entry_price="100",
    )
    _event(
        conn,
        "3-0",
        "position.stop_hit",
        "2025-03-05 15:00Z",
        "AAPL",
        "AAPL-1",
        "long",
        quantity="0",
        filled_qty="50",
        price="110",
        entry_price="100",
    )
    _event(
        conn,
        "4-0",
        "position.closed",
        "2025-03-05 15:00:01Z",
        "AAPL",
        "AAPL-1",
        "long",
        quantity="0",
    )
    _event(
        conn,
        "5-0",
        "position.opened",
        "2025-03-03 15:00Z",
        "XOM",
        "XOM-1",
        "short",
        quantity="-30",
        filled_qty="30",
        price="113",
        entry_price="113",
    )
    _event(
        conn,
        "6-0",
        "position.target_hit",
        "2025-03-04 16:00Z",
        "XOM",
        "XOM-1",
        "short",
        quantity="0",
        filled_qty="30",
        price="100",
        entry_price="113",
    )
    _event(
        conn,
        "7-0",
        "position.closed",
        "2025-03-04 16:00:01Z",
        "XOM",
        "XOM-1",
        "short",
        quantity="0",
    )
    _event(
        conn,
        "8-0",
        "position.opened",
        "2025-03-04 15:00Z",
        "NVDA",
        "NVDA-1",
        "long",
        quantity="40",
        filled_qty="40",
        price="118.5",
        entry_price="118.5",
    )
    _event(
        conn,
        "9-0",
        "position.pnl_updated",
        "2025-03-04 20:00Z",
        "NVDA",
        "NVDA-1",
        "long",
        price="120",
        unrealized="60",
    )


def test_closed_trades_realize_pnl_for_longs_and_mirrored_shorts(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    _book(conn)
    rows = conn.execute(
        f"SELECT symbol, side, realized_pnl, exited_qty FROM {tables.CLOSED_TRADES} ORDER BY 1"
    ).fetchall()
    # AAPL: 50 x (120 - 100) + 50 x (110 - 100) = 1500; XOM short: 30 x (113 - 100) = 390
    assert rows == [
        ("AAPL", "long", Decimal("1500"), Decimal("100")),
        ("XOM", "short", Decimal("390"), Decimal("30")),
    ]


def test_open_positions_list_only_what_is_still_held(conn: duckdb.DuckDBPyConnection) -> None:
    _book(conn)
    rows = conn.execute(
        f"SELECT symbol, quantity, last_price, unrealized_pnl FROM {tables.OPEN_POSITIONS}"
    ).fetchall()
    assert rows == [("NVDA", Decimal("40"), Decimal("120"), Decimal("60"))]


def test_daily_pnl_sums_realized_by_new_york_date_and_last_unrealized(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    _book(conn)
    rows = conn.execute(
        f"SELECT CAST(date AS VARCHAR), realized_pnl, unrealized_pnl_last, total_pnl "
        f"FROM {tables.DAILY_PNL}"
    ).fetchall()
    assert rows == [
        ("2025-03-04", Decimal("1390"), Decimal("60"), Decimal("1450")),
        ("2025-03-05", Decimal("500"), Decimal("0"), Decimal("500")),
    ]


def test_position_history_is_in_time_order(conn: duckdb.DuckDBPyConnection) -> None:
    _book(conn)
    streams = [
        r[0] for r in conn.execute(f"SELECT stream_id FROM {tables.POSITION_HISTORY}").fetchall()
    ]
    assert streams[0] in ("1-0", "5-0") and streams[-1] == "4-0"
