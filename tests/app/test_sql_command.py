"""`position-manager sql`: truly read-only (no statement that writes, no file or network access
from SQL), money rounded for people, every value exact in CSV and JSON, nothing cut."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli import app
from warehouse.connection import connect

LONG_NOTE = "a note that goes on " * 15 + "and ends here"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A warehouse under DATA_DIR with one extra table of awkward numbers; the test runs in an
    empty directory of its own (where a relative COPY would write)."""
    data = tmp_path / "data"
    conn = connect(data / "warehouse.duckdb")
    conn.execute(
        "CREATE TABLE sample AS SELECT * FROM (VALUES "
        "('AAPL', 0.024145383702170384::DOUBLE, 508.75::DECIMAL(20, 6), 50::DECIMAL(20, 6), "
        f"0.3456::DECIMAL(20, 6), '{LONG_NOTE}'), "
        "('BNGO', 0.5::DOUBLE, 62.26::DECIMAL(20, 6), 2500.5::DECIMAL(20, 6), "
        "1.2::DECIMAL(20, 6), NULL)) AS t(symbol, atr_pct, pnl, qty, price, note)"
    )
    conn.close()
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DATA_DIR", str(data))
    return data


def sql(*args: str) -> Result:
    return CliRunner().invoke(app, ["sql", *args])


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


def test_copy_to_a_file_is_refused_and_writes_no_file(data_dir: Path, tmp_path: Path) -> None:
    before = files_under(tmp_path)
    result = sql("COPY (SELECT 1) TO 'x.csv'")
    assert result.exit_code == 1
    assert "sql is read-only: COPY statements are refused, nothing was run" in result.output
    assert not Path("x.csv").exists() and files_under(tmp_path) == before


@pytest.mark.parametrize(
    "statement",
    [
        "COPY sample TO '{dir}/out.parquet' (FORMAT parquet)",
        "EXPORT DATABASE '{dir}/export'",
        "ATTACH '{dir}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA threads = 1",
        "RESET lock_configuration",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO sample (symbol) VALUES ('X')",
        "CHECKPOINT",
        "SELECT 1; COPY (SELECT 1) TO '{dir}/two.csv'",
    ],
)
def test_statements_that_could_write_or_change_state_are_refused(
    data_dir: Path, tmp_path: Path, statement: str
) -> None:
    before = files_under(tmp_path)
    result = sql(statement.format(dir=tmp_path))
    assert result.exit_code == 1, result.output
    assert "nothing was run" in result.output
    assert files_under(tmp_path) == before


def test_a_select_cannot_reach_other_files(data_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for sql")
    result = sql(f"SELECT * FROM read_text('{secret}')")
    assert result.exit_code == 1 and "not for sql" not in result.output
    assert "query failed" in result.output


def test_the_table_rounds_money_and_cuts_nothing(data_dir: Path) -> None:
    result = sql("SELECT * FROM sample ORDER BY symbol")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "0.024145383702170384" not in out and "0.02415" in out  # 4 significant digits
    assert "508.75" in out and "62.26" in out and "508.750000" not in out
    assert "2,500.50" in out and "0.3456" in out
    assert LONG_NOTE.split()[-1] in out and "…" not in out
    assert "".join(out.split()).count("".join(LONG_NOTE.split())) == 1  # whole, maybe wrapped


@pytest.mark.parametrize("fmt", ["csv", "CSV"])
def test_csv_has_every_value_exact(data_dir: Path, fmt: str) -> None:
    result = sql("--format", fmt, "SELECT * FROM sample ORDER BY symbol")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "symbol,atr_pct,pnl,qty,price,note"
    assert lines[1] == f"AAPL,0.024145383702170384,508.750000,50.000000,0.345600,{LONG_NOTE}"
    assert lines[2] == "BNGO,0.5,62.260000,2500.500000,1.200000,"


def test_json_has_every_value_exact_and_decimals_as_numbers(data_dir: Path) -> None:
    result = sql("-f", "json", "SELECT * FROM sample ORDER BY symbol")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output, parse_float=Decimal)
    assert rows[0] == {
        "symbol": "AAPL",
        "atr_pct": Decimal("0.024145383702170384"),
        "pnl": Decimal("508.750000"),
        "qty": Decimal("50.000000"),
        "price": Decimal("0.345600"),
        "note": LONG_NOTE,
    }
    assert rows[1]["note"] is None
    assert json.loads(sql("-f", "json", "SELECT * FROM sample WHERE false").output) == []


def test_a_bad_query_says_why(data_dir: Path) -> None:
    result = sql("SELECT * FROM no_such_table")
    assert result.exit_code == 1 and "no_such_table" in result.output
    assert sql("--format", "xml", "SELECT 1").exit_code == 2  # not a format
