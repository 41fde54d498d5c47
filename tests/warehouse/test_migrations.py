"""The schema: versioned, idempotent, refuses newer files, and one writer at a time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.duckdb_lock import duckdb_locked_by_another_process
from warehouse import tables
from warehouse.connection import connect, open_warehouse
from warehouse.errors import SchemaVersionError, WarehouseBusyError
from warehouse.migrate import apply_migrations, latest_known_version


def test_a_new_file_gets_every_table_and_view_the_code_names(duckdb_path: Path) -> None:
    with open_warehouse(duckdb_path) as conn:
        rows = conn.execute(
            "SELECT table_name, table_type FROM information_schema.tables"
        ).fetchall()
    found_tables = {name for name, kind in rows if kind == "BASE TABLE"}
    found_views = {name for name, kind in rows if kind == "VIEW"}
    assert found_tables == {*tables.TABLES, tables.SCHEMA_MIGRATIONS}
    assert found_views == set(tables.VIEWS)


def test_applying_migrations_twice_changes_nothing(duckdb_path: Path) -> None:
    with open_warehouse(duckdb_path) as conn:
        assert apply_migrations(conn) == []
        versions = conn.execute(
            f"SELECT version FROM {tables.SCHEMA_MIGRATIONS} ORDER BY version"
        ).fetchall()
    assert [v for (v,) in versions] == list(range(1, latest_known_version() + 1))
    with open_warehouse(duckdb_path) as conn:  # a second start re-applies nothing
        assert conn.execute(f"SELECT count(*) FROM {tables.SCHEMA_MIGRATIONS}").fetchone() == (
            latest_known_version(),
        )


def test_a_schema_newer_than_the_code_is_refused_with_both_versions(duckdb_path: Path) -> None:
    with open_warehouse(duckdb_path) as conn:
        conn.execute(f"INSERT INTO {tables.SCHEMA_MIGRATIONS} VALUES (99, 'future', now())")
    with pytest.raises(SchemaVersionError, match=r"version 99 .* up to \d+"):
        connect(duckdb_path)
    with pytest.raises(SchemaVersionError):
        connect(duckdb_path, read_only=True)


def test_a_file_locked_by_another_process_gives_warehouse_busy(duckdb_path: Path) -> None:
    with open_warehouse(duckdb_path):
        pass
    with duckdb_locked_by_another_process(duckdb_path):
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError, match="locked by another process") as info:
            connect(duckdb_path, lock_wait_seconds=0.3)
        assert str(duckdb_path) in str(info.value)
        assert time.monotonic() - started < 5
    with open_warehouse(duckdb_path):  # free again once the other writer is gone
        pass
