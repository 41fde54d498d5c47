"""Moving polars frames in and out of DuckDB without pyarrow.

Inserts hand DuckDB the frame's own Arrow memory through the Arrow C stream interface (the
PyCapsule protocol both libraries speak): no copy into Python objects, no temporary file, no
pyarrow. That is several times faster than the temporary Parquet file this used before (which
was itself about 60x faster than `executemany`). Reads go through `fetchall`, which is plenty
for the warehouse's small tables.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import polars as pl

_NAMES = itertools.count()


class ArrowRows:
    """A polars frame as an Arrow C stream. DuckDB scans an object with `__arrow_c_stream__`
    zero-copy; handed the DataFrame itself it would look for pyarrow instead."""

    def __init__(self, frame: pl.DataFrame) -> None:
        # A column of nulls has Arrow's null type, which DuckDB will not read: as text it is
        # cast to whatever the table's column is, still NULL.
        nulls = [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null]
        self.frame = frame.with_columns(nulls) if nulls else frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


@contextlib.contextmanager
def arrow_view(
    conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, name: str | None = None
) -> Iterator[str]:
    """`frame` readable in SQL under the yielded name while the block runs."""
    name = name or f"pm_rows_{next(_NAMES)}"
    conn.register(name, ArrowRows(frame))
    try:
        yield name
    except BaseException:
        # A failed statement aborts the transaction, and DuckDB then refuses the unregister
        # too: the caller must see the failure itself (its rollback drops the view).
        with contextlib.suppress(duckdb.Error):
            conn.unregister(name)
        raise
    conn.unregister(name)


def insert_frame(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """INSERT the frame's rows into `table`, matching columns by name. Returns the row count."""
    if frame.is_empty():
        return 0
    with arrow_view(conn, frame) as name:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
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
