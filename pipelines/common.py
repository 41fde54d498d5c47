"""Small things every asset module shares: the partitions, the DuckDB pool, metadata helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

NEW_YORK = ZoneInfo("America/New_York")

# Every asset and check that opens the warehouse runs in this pool: DuckDB allows one writer.
WAREHOUSE_POOL = "duckdb"

# Bars are partitioned by New York trading date; the sample world starts on 2025-01-02.
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date="2025-01-02", timezone="America/New_York"
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def new_york_today(now: datetime | None = None) -> date:
    return (now or now_utc()).astimezone(NEW_YORK).date()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pl.DataFrame, limit: int = 20) -> str:
    """A markdown preview for the Dagster UI (no tabulate dependency)."""
    if frame.is_empty():
        return "_no rows_"
    shown = frame.head(limit)
    lines = [
        "| " + " | ".join(shown.columns) + " |",
        "|" + "---|" * len(shown.columns),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.iter_rows()]
    if frame.height > limit:
        lines.append(f"\n_{frame.height - limit} more rows_")
    return "\n".join(lines)


def table_metadata(frame: pl.DataFrame, **extra: Any) -> dict[str, Any]:
    """Row count and preview, the two things the UI shows for every materialization."""
    return {
        "dagster/row_count": frame.height,
        "preview": dg.MetadataValue.md(markdown_table(frame)),
        **extra,
    }
