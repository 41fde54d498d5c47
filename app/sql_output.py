"""What `position-manager sql` prints: a table for people, CSV or JSON for programs.

- `table`: money and other decimals rounded per column (cents when every value is a dollar or
  more, enough digits for the smallest value otherwise: an ATR of 0.0241 keeps 0.02415, a price
  of $0.3456 keeps its four decimals), whole numbers without decimals, numbers right-aligned;
  nothing is cut: on a terminal long cells wrap, into a file or a pipe the table is as wide as
  it needs to be.
- `csv`, `json`: every value exactly as DuckDB returned it (decimals in full, no rounding, no
  truncation). JSON is an array of one object per row; DECIMAL values are JSON numbers written
  from the Decimal itself (never through a float), non-finite doubles are null.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def fetch(conn: Any, sql: str) -> QueryResult:
    cursor = conn.execute(sql)
    columns = [str(column[0]) for column in cursor.description or ()]
    return QueryResult(columns, [tuple(row) for row in cursor.fetchall()])


# --- table ----------------------------------------------------------------------------------
MAX_DECIMALS = 6  # the warehouse's DECIMAL(20, 6)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def column_decimals(values: Sequence[Any]) -> int | None:
    """How many decimals a column of numbers shows (None: not a numeric column)."""
    numbers = [v for v in values if v is not None]
    if not numbers or not all(_is_number(v) for v in numbers):
        return None
    finite = [Decimal(str(v)) for v in numbers if not isinstance(v, float) or math.isfinite(v)]
    if all(d == d.to_integral_value() for d in finite):
        return 0
    smallest = min((abs(d) for d in finite if d != 0), default=Decimal(1))
    if smallest >= 1:
        return 2
    # Four significant digits of the smallest value: 0.0241 -> 5 decimals, 0.3456 -> 4.
    leading_zeros = -smallest.adjusted() - 1
    return min(MAX_DECIMALS, max(2, leading_zeros + 4))


def format_cell(value: Any, decimals: int | None) -> str:
    if value is None:
        return ""
    if decimals is not None and _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{Decimal(str(value)):,.{decimals}f}"
    return str(value)


def build_table(result: QueryResult, title: str | None) -> Table:
    table = Table(title=title)
    decimals = [
        column_decimals([row[i] for row in result.rows]) for i in range(len(result.columns))
    ]
    for name, places in zip(result.columns, decimals, strict=True):
        table.add_column(name, justify="right" if places is not None else "left", overflow="fold")
    for row in result.rows:
        table.add_row(*(format_cell(v, d) for v, d in zip(row, decimals, strict=True)))
    return table


def print_table(result: QueryResult, title: str | None, console: Console) -> None:
    """On a terminal, cells wrap to its width; elsewhere the table gets the width it needs."""
    table = build_table(result, title)
    if not console.is_terminal:
        probe = Console(width=100_000)
        needed = Measurement.get(probe, probe.options, table).maximum
        console = Console(width=max(needed, console.width), file=console.file)
    console.print(table)


# --- csv and json -----------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A value as text for CSV: exact decimals, ISO timestamps, JSON for nested values."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return _json_value(value)
    return value


def write_csv(result: QueryResult, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_plain(v) for v in row])


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):  # nested in a list or struct: exact, as text
        return format(value, "f")
    return str(value)


def _json_value(value: Any) -> str:
    """One JSON token; a Decimal becomes a number written from its own digits."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def write_json(result: QueryResult, out: TextIO) -> None:
    out.write("[")
    for number, row in enumerate(result.rows):
        fields = ", ".join(
            f"{json.dumps(name)}: {_json_value(value)}"
            for name, value in zip(result.columns, row, strict=True)
        )
        out.write(("\n" if number == 0 else ",\n") + "{" + fields + "}")
    out.write("\n]\n" if result.rows else "]\n")


def run_read_only_query(path: Any, sql: str) -> QueryResult:
    """`sql` on the warehouse at `path`, refused unless it is one read-only statement
    (`warehouse.readonly`): `ReadOnlyQueryError`, or DuckDB's own error for bad SQL."""
    from warehouse.readonly import check_read_only, open_for_queries

    with open_for_queries(path) as conn:
        check_read_only(conn, sql)
        return fetch(conn, sql)
