"""Read-only SQL for people: what `position-manager sql` runs against the warehouse.

A DuckDB connection opened `read_only=True` refuses writes to the database file, but not to
other files: `COPY (SELECT ...) TO 'out.csv'`, `EXPORT DATABASE`, `ATTACH` (of a new file),
`INSTALL` and `read_csv('/any/file')` all reach the file system. So a query is held to two
independent locks:

1. its parsed statement type (DuckDB's own parser): one SELECT (also WITH, FROM, VALUES, SHOW,
   DESCRIBE, SUMMARIZE) or EXPLAIN; anything else is refused before it runs;
2. the connection itself: `enable_external_access = false` (no file or network access from
   SQL) and `lock_configuration = true` (no SET, PRAGMA or RESET can turn it back on).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import duckdb

from warehouse.connection import open_warehouse
from warehouse.errors import WarehouseError

ALLOWED_STATEMENTS: Final = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


class ReadOnlyQueryError(WarehouseError):
    """A query that is not one read-only statement: nothing of it was run."""


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise `ReadOnlyQueryError` unless `sql` is exactly one SELECT-like or EXPLAIN statement
    (a statement DuckDB cannot parse raises DuckDB's own `ParserException`)."""
    statements = conn.extract_statements(sql)
    if not statements:
        raise ReadOnlyQueryError("nothing to run: the query is empty")
    if len(statements) > 1:
        raise ReadOnlyQueryError(
            f"one statement at a time: the query has {len(statements)}; nothing was run"
        )
    kind = statements[0].type
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyQueryError(
            f"sql is read-only: {kind.name} statements are refused, nothing was run (allowed: "
            "SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
        )


@contextmanager
def open_for_queries(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse read-only, with SQL's access to files and the network switched off and
    the configuration locked (see the module docstring)."""
    with open_warehouse(path, read_only=True) as conn:
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        yield conn
