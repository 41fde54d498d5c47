"""Typed warehouse errors: each says which file and what the operator can do about it."""

from __future__ import annotations

from pathlib import Path

from position_manager.errors import PositionManagerError


class WarehouseError(PositionManagerError):
    """Base of every error the warehouse raises on purpose."""


class WarehouseBusyError(WarehouseError):
    """Another process holds DuckDB's write lock on the file.

    DuckDB allows one writing process per file; the project keeps it that way on purpose (only
    Dagster runs write, in the `duckdb` pool). Seeing this means a second writer was started.
    """

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"warehouse {path} is locked by another process ({detail}); only one writer may open "
            "it at a time — wait for the running Dagster job to finish or stop the other process"
        )
        self.path = path


class SchemaVersionError(WarehouseError):
    """The file's schema is newer than this code knows: refusing to read or write it."""

    def __init__(self, path: Path | str, found: int, known: int) -> None:
        super().__init__(
            f"warehouse {path} is at schema version {found} but this code knows versions up to "
            f"{known}: upgrade position-manager, or point DATA_DIR at another directory"
        )
        self.found = found
        self.known = known


class MigrationError(WarehouseError):
    """A migration file is malformed or failed to apply (the transaction was rolled back)."""
