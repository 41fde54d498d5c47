"""The history after a crash: `closed_trades` equals the broker's own fills to the cent.

The outside harness found stop-outs that happened while the worker was down reading
`realized 0` in DuckDB (KO: 0 against -376.80 by the fills): the fill never became an event.
Here the worker takes profit on half, is killed, the stop fills at the broker, the worker
restarts, the history is ingested, and realized P&L is compared with the simulator's fills.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pipelines.history.jobs import ingest_all
from position_manager import events
from tests.support.worker_harness import Harness, risk_params
from warehouse.connection import open_warehouse

ENTRY = Decimal("60")


def realized_by_the_fills(harness: Harness, symbol: str, entry: Decimal) -> Decimal:
    """A long position's realized P&L by the broker's executions: (price - entry) x shares."""
    fills = [f for f in harness.sim.simulator.engine.book.fills if f.symbol == symbol]
    return sum(((f.price - entry) * f.qty for f in fills if f.side == "sell"), Decimal(0))


def closed_trades(duckdb_path: Path) -> list[tuple[str, Decimal, Decimal]]:
    with open_warehouse(duckdb_path) as conn:
        rows = conn.execute("SELECT symbol, exited_qty, realized_pnl FROM closed_trades").fetchall()
    return [(str(s), Decimal(q), Decimal(p)) for s, q, p in rows]


def test_a_stop_out_while_the_worker_was_down_reaches_closed_trades_to_the_cent(
    harness: Harness, duckdb_path: Path
) -> None:
    harness.sim.simulator.seed_positions([("KO", Decimal(100), ENTRY)], {"KO": ENTRY})
    risk_params(harness.client, "KO", atr="1")
    harness.start()
    harness.quote("KO", "72")  # +20 %: half sold, the stop shrinks to the 50 left
    harness.quote("KO", "72")  # and trails to 5 % under 72
    assert harness.position_qty("KO") == 50
    assert [s.stop_price for s in harness.stops("KO")] == [Decimal("68.40")]

    harness.kill()
    for _ in range(2):  # only the broker sees these: the stop elects, then fills
        harness.sim.simulator.feed_quote("KO", Decimal("64.99"), Decimal("65.01"), Decimal("65"))
    assert harness.position_qty("KO") == 0
    harness.start()
    harness.settle()

    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, harness.client)
    expected = realized_by_the_fills(harness, "KO", ENTRY)
    assert expected == Decimal("11.99") * 50 + Decimal("4.99") * 50  # 71.99 and 64.99 at the bid
    assert closed_trades(duckdb_path) == [("KO", Decimal(100), expected)]
    (closed,) = harness.events(events.POSITION_CLOSED)
    assert Decimal(closed["pnl"]) == expected and Decimal(closed["exit_price"]) == Decimal("64.99")
