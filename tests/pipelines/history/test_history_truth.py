"""What the trader reads is true: the history's dates are the broker's session dates, realized
P&L comes from the fills (not the prices that triggered the decisions), and unrealized P&L is the
book's at its last prices (snapshots on demand, at the session's end and on shutdown), so
`open_positions` and `daily_pnl` agree with the worker's own book to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.status import read_status
from pipelines.history.jobs import ingest_all
from position_manager import events
from position_manager.events import publish
from position_manager.market_calendar import NEW_YORK
from rules.pnl import unrealized_pnl
from streaming.session_publisher import SessionPublisher
from tests.support.simulator import REGULAR_AT
from tests.support.worker_harness import Harness, risk_params
from warehouse.connection import open_warehouse

ENTRY = Decimal("60")
SESSION_DATE: date = REGULAR_AT.astimezone(NEW_YORK).date()


def _sql(path: Path, query: str) -> list[tuple[Any, ...]]:
    with open_warehouse(path) as conn:
        return conn.execute(query).fetchall()


def _ko_after_level_one(harness: Harness) -> None:
    """100 KO @ 60; +20 % sells half (decided at 72, filled at the bid, 71.99); then 70."""
    SessionPublisher(harness.client, harness.broker).publish_if_changed()  # the broker's clock
    harness.sim.simulator.seed_positions([("KO", Decimal(100), ENTRY)], {"KO": ENTRY})
    risk_params(harness.client, "KO", atr="1")
    harness.start()
    harness.quote("KO", "72")
    harness.quote("KO", "72")
    assert harness.position_qty("KO") == 50
    harness.quote("KO", "70")


def test_partial_exits_book_the_fill_price_on_the_brokers_session_date(
    harness: Harness, duckdb_path: Path
) -> None:
    _ko_after_level_one(harness)
    (sale,) = [f for f in harness.sim.simulator.engine.book.fills if f.side == "sell"]
    assert sale.price == Decimal("71.99")
    (taken,) = harness.events(events.POSITION_PROFIT_TAKING)
    assert Decimal(taken["current_price"]) == Decimal(72)  # the decision's price
    (reduced,) = harness.events(events.POSITION_REDUCED)
    assert Decimal(reduced["realized_pnl"]) == (sale.price - ENTRY) * 50
    assert (Decimal(reduced["price"]), Decimal(reduced["quantity"])) == (sale.price, 50)

    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, harness.client)
    rows = _sql(
        duckdb_path,
        "SELECT event, realized_pnl FROM position_history "
        "WHERE event IN ('position.profit_taking', 'position.reduced')",
    )
    assert rows == [("position.profit_taking", None), ("position.reduced", Decimal("599.5"))]
    assert _sql(duckdb_path, "SELECT date, realized_pnl FROM daily_pnl") == [
        (SESSION_DATE, Decimal("599.5"))
    ]


def test_open_positions_and_daily_pnl_agree_with_the_book_after_a_snapshot(
    harness: Harness, duckdb_path: Path
) -> None:
    _ko_after_level_one(harness)
    publish(harness.client, events.COMMAND_PNL_SNAPSHOT, {})
    harness.settle()
    assert harness.worker is not None
    pos = harness.worker.engine.held["KO"].position
    assert pos.last_price == Decimal(70)
    book = unrealized_pnl(pos, Decimal(70), harness.worker.engine.session).unrealized
    assert book == Decimal(500)

    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, harness.client)
    assert _sql(
        duckdb_path, "SELECT symbol, quantity, last_price, unrealized_pnl FROM open_positions"
    ) == [("KO", Decimal(50), Decimal(70), book)]
    assert _sql(duckdb_path, "SELECT date, unrealized_pnl_last, total_pnl FROM daily_pnl") == [
        (SESSION_DATE, book, book + Decimal("599.5"))
    ]
    # `position-manager status` says the same, to the cent.
    (shown,) = read_status(harness.settings).positions
    assert (shown["symbol"], Decimal(shown["qty"]), Decimal(shown["pnl"])) == ("KO", 50, book)


def test_the_regular_sessions_end_and_a_shutdown_each_snapshot_the_book(
    harness: Harness,
) -> None:
    _ko_after_level_one(harness)
    assert harness.worker is not None
    publish(harness.client, events.SESSION_CHANGED, {"session": "POST"})
    harness.settle()
    harness.worker.housekeeping.tick(force=True, stopping=True)
    snapshots = [
        (e["snapshot"], Decimal(e["unrealized_pnl"]))
        for e in harness.events(events.POSITION_PNL_UPDATED)
        if e.get("snapshot")
    ]
    assert snapshots == [("session_end", Decimal(500)), ("shutdown", Decimal(500))]
