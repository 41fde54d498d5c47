"""Opening the warehouse file: wait briefly for DuckDB's lock, then fail with a clear error.

DuckDB lets one process write a file at a time and raises a bare IOException for the second. The
pipeline keeps one writer on purpose (the `duckdb` pool), so a long wait only hides a mistake:
`connect` retries for `lock_wait_seconds` and then raises `WarehouseBusyError` naming the file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import SchemaVersionError, WarehouseBusyError
from warehouse.migrate import apply_migrations, latest_known_version
from warehouse.tables import SCHEMA_MIGRATIONS

DEFAULT_LOCK_WAIT_SECONDS = 5.0


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    migrate: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file with the schema up to date.

    Creates the parent directory. A read-only connection never migrates (it cannot), but still
    refuses a schema newer than the code.
    """
    db_path = Path(path)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait_seconds
    delay = 0.05
    while True:
        try:
            conn = duckdb.connect(str(db_path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                detail = str(exc).split(":", 1)[-1].strip().split(". See also")[0]
                raise WarehouseBusyError(db_path, detail) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    if migrate and not read_only:
        try:
            apply_migrations(conn, path=str(db_path))
        except BaseException:
            conn.close()
            raise
    elif read_only:
        _check_not_newer(conn, db_path)
    return conn


def _check_not_newer(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_MIGRATIONS}").fetchone()
    except duckdb.CatalogException:
        return
    found = int(row[0]) if row else 0
    if found > latest_known_version():
        conn.close()
        raise SchemaVersionError(path, found, latest_known_version())


@contextmanager
def open_warehouse(
    path: Path | str,
    *,
    read_only: bool = False,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect` as a context manager that always closes the connection."""
    conn = connect(path, read_only=read_only, lock_wait_seconds=lock_wait_seconds)
    try:
        yield conn
    finally:
        conn.close()
