"""`position-manager chart SYMBOL`: a PNG of price, stop (with its basis) and fills, from the
DuckDB history of a real worker run."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.chart import ChartError, chart
from pipelines.history.jobs import ingest_all
from tests.support.worker_harness import Harness, risk_params
from warehouse.connection import open_warehouse

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_chart_shows_a_trailed_stop_and_the_fills(
    harness: Harness, duckdb_path: Path, tmp_path: Path
) -> None:
    harness.sim.simulator.seed_positions([("KO", Decimal(100), Decimal(60))], {"KO": Decimal(60)})
    risk_params(harness.client, "KO", atr="1")
    harness.start()
    harness.settle()
    harness.quote("KO", "70")  # the stop trails to 5 % under 70
    harness.quote("KO", "72")  # +20 %: half is sold (filled at the bid on the next quote)
    harness.quote("KO", "72")
    assert harness.position_qty("KO") == 50
    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, harness.client)

    out, series = chart(duckdb_path, "KO", tmp_path / "charts" / "KO.png")
    assert out.read_bytes().startswith(PNG_SIGNATURE) and out.stat().st_size > 10_000
    levels = [(s.price, s.basis) for s in series.stops]
    assert levels[:2] == [(Decimal("55.2"), "atr"), (Decimal("66.5"), "trailed")]
    assert all(basis == "trailed" for _, basis in levels[1:])  # resized, never re-based
    assert [(f.kind, f.qty, f.price) for f in series.fills] == [
        ("opened", Decimal(100), Decimal(60)),
        ("reduced", Decimal(50), Decimal("71.99")),
    ]
    assert Decimal(70) in [p for _, p in series.prices]


def test_no_history_for_the_symbol_or_no_warehouse_is_a_clear_error(
    duckdb_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(ChartError, match="no warehouse"):
        chart(tmp_path / "missing.duckdb", "KO")
    with open_warehouse(duckdb_path):
        pass  # an empty, migrated warehouse
    with pytest.raises(ChartError, match="no history for 'ZZZZ'"):
        chart(duckdb_path, "ZZZZ", tmp_path / "z.png")
    assert not (tmp_path / "z.png").exists()
