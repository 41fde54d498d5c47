"""History rows as columns: the frame one INSERT per batch reads through Arrow.

The rows (`pipelines.history.rows`) carry Decimals and aware datetimes; here they become a polars
frame per stream with a fixed schema. Money and quantities travel as their exact decimal text
(`format(value, "f")`): DuckDB casts that text to DECIMAL(20, 6) with the same rounding it gives a
bound Python Decimal (half away from zero), so the stored values are those the row-by-row
`executemany` stored (`tests/pipelines/history/test_history_frames.py` holds both side by side).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import polars as pl

from pipelines.history.rows import ALERT_COLUMNS, ORDER_COLUMNS, POSITION_COLUMNS
from position_manager.events import ALERTS_STREAM, POSITIONS_STREAM

_MOMENT: Final = pl.Datetime("us", "UTC")
DECIMAL_COLUMNS: Final = frozenset(
    {"quantity", "filled_qty", "price", "entry_price", "stop_price", "unrealized_pnl",
     "realized_pnl", "qty", "filled_avg_price"}
)  # fmt: skip
_MOMENTS: Final = frozenset({"ts", "created_at", "updated_at"})
WAREHOUSE_DECIMAL: Final = "DECIMAL(20, 6)"  # every DECIMAL_COLUMNS column's type


def select_list(columns: Sequence[str]) -> str:
    """The SELECT list that reads a `history_frame`: decimal text cast to the table's type (an
    upsert's `excluded.` values then have the column's type)."""
    return ", ".join(
        f"{c}::{WAREHOUSE_DECIMAL} AS {c}" if c in DECIMAL_COLUMNS else c for c in columns
    )


def columns_for(stream: str) -> tuple[str, ...]:
    """The row columns one stream's table is written with."""
    if stream == POSITIONS_STREAM:
        return POSITION_COLUMNS
    if stream == ALERTS_STREAM:
        return ALERT_COLUMNS
    return ORDER_COLUMNS


def _decimal_text(values: list[Any]) -> list[str | None]:
    return [None if v is None else format(v, "f") if isinstance(v, Decimal) else str(v)
            for v in values]  # fmt: skip


def history_frame(stream: str, rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The stream's rows as a frame of its columns: text, decimal text, UTC microseconds."""
    series = []
    for name in columns_for(stream):
        values = [row[name] for row in rows]
        if name in DECIMAL_COLUMNS:
            series.append(pl.Series(name, _decimal_text(values), dtype=pl.String))
        elif name in _MOMENTS:
            series.append(pl.Series(name, values, dtype=_MOMENT))
        else:
            series.append(pl.Series(name, values, dtype=pl.String))
    return pl.DataFrame(series)
