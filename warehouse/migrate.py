"""Versioned schema migrations: numbered SQL files applied in order, each in one transaction.

`apply_migrations` is idempotent (a version already recorded in `schema_migrations` is skipped) and
refuses a file whose recorded version is newer than the newest migration this code ships, so an old
release never writes into a schema it does not understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import duckdb

from warehouse.errors import MigrationError, SchemaVersionError
from warehouse.tables import SCHEMA_MIGRATIONS

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def known_migrations() -> tuple[Migration, ...]:
    """The migrations shipped with this code, by version; gaps or duplicates are a bug."""
    found: list[Migration] = []
    for entry in resources.files("warehouse.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..N without gaps, found {versions}")
    return tuple(found)


def latest_known_version() -> int:
    return known_migrations()[-1].version


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest applied version, 0 for a new file."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_MIGRATIONS} ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_MIGRATIONS}").fetchone()
    return int(row[0]) if row else 0


def apply_migrations(conn: duckdb.DuckDBPyConnection, *, path: str = "warehouse") -> list[int]:
    """Bring the schema up to date; return the versions applied now (empty when up to date).

    Raises `SchemaVersionError` when the file is newer than this code, `MigrationError` when a
    migration fails (its transaction is rolled back, so the file stays at the previous version).
    """
    found = current_version(conn)
    known = latest_known_version()
    if found > known:
        raise SchemaVersionError(path, found, known)
    applied: list[int] = []
    for migration in known_migrations():
        if migration.version <= found:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(migration.sql)
            conn.execute(
                f"INSERT INTO {SCHEMA_MIGRATIONS} VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
            conn.execute("COMMIT")
        except duckdb.Error as exc:
            conn.execute("ROLLBACK")
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed on {path}: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied
