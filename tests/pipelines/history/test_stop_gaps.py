"""Gap risk, measured: every fill of one of our stops records its slippage against the stop price
(`position.closed` / `position.reduced`: `stop_price`, `slippage`, `slippage_pct`), and the
`stop_gaps` view lists them worst first."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pipelines.history.jobs import ingest_all
from position_manager import events
from tests.support.worker_harness import Harness, risk_params
from warehouse.connection import open_warehouse


def test_a_stop_that_gaps_through_records_how_far_it_filled_from_its_price(
    harness: Harness, duckdb_path: Path
) -> None:
    harness.sim.simulator.seed_positions([("KO", Decimal(100), Decimal(60))], {"KO": Decimal(60)})
    risk_params(harness.client, "KO", atr="1")  # large cap: the stop clamps to 8 % under, 55.20
    harness.start()
    harness.settle()
    for _ in range(2):  # the price opens at 52 (only the broker sees it): elected, then filled
        harness.sim.simulator.feed_quote("KO", Decimal("51.99"), Decimal("52.01"), Decimal(52))
    fill = harness.sim.simulator.engine.book.fills[-1]
    assert harness.position_qty("KO") == 0 and fill.price < Decimal("55.20")
    harness.settle()  # the fill's update reaches the worker

    (closed,) = harness.events(events.POSITION_CLOSED)
    assert (closed["reason"], Decimal(closed["stop_price"])) == ("stop", Decimal("55.20"))
    assert Decimal(closed["slippage"]) == Decimal("55.20") - fill.price
    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, harness.client)
        rows = conn.execute(
            "SELECT symbol, stop_price, fill_price, shares, slippage, slippage_dollars "
            "FROM stop_gaps"
        ).fetchall()
    slip = Decimal("55.20") - fill.price
    assert rows == [("KO", Decimal("55.2"), fill.price, Decimal(100), slip, slip * 100)]
