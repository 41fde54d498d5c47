"""`--json PATH` for the benchmark scripts: the figures they print, as rows the benchmark table
(`position-manager bench`) reads. One row per figure: its value, the baseline measured in the
same run (None when there is none), the target in words and whether it was met."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def row(
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    target: str = "",
    met: bool | None = None,
    shown: str | None = None,
) -> dict[str, Any]:
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "target": target,
        "met": met,
        "shown": shown,
    }


def write(path: str | None, rows: list[dict[str, Any]]) -> None:
    if path:
        Path(path).write_text(json.dumps(rows, indent=1))
