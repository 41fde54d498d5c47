"""The what-if settings sets (`sets.yaml`, or the file PM_WHATIF_SETS names): read once, when
Dagster loads the code, because they are the static partitions of `stop_policy_comparison`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from position_manager.market_calendar import market_days

DEFAULT_SETS = Path(__file__).with_name("sets.yaml")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SetsFileError(ValueError):
    """The sets file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class WhatIfSets:
    sets: dict[str, dict[str, str]]
    months: int | None = 3
    sessions: int | None = None

    def window(self, last: date) -> tuple[date, date]:
        """(first, last) replayed days ending on the closed session `last`."""
        if self.sessions is not None:
            days = market_days(last - timedelta(days=2 * self.sessions + 14), last)
            return days[-self.sessions].date, last
        months = self.months or 3
        return last - timedelta(days=round(months * 30.44)), last


def sets_path() -> Path:
    return Path(os.environ.get("PM_WHATIF_SETS") or DEFAULT_SETS)


def load_sets(path: Path | None = None) -> WhatIfSets:
    path = path or sets_path()
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SetsFileError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sets"), dict) or not raw["sets"]:
        raise SetsFileError(f"{path}: wants a `sets:` mapping of name -> settings")
    sets: dict[str, dict[str, str]] = {}
    for name, values in raw["sets"].items():
        if not _NAME.match(str(name)):
            raise SetsFileError(f"{path}: set name {name!r} (letters, digits, _ . -)")
        if not isinstance(values, dict | type(None)):
            raise SetsFileError(f"{path}: set {name}: wants KEY: VALUE pairs")
        sets[str(name)] = {str(k).upper(): str(v) for k, v in (values or {}).items()}
    months, sessions = raw.get("months", 3), raw.get("sessions")
    for label, value in (("months", months), ("sessions", sessions)):
        if value is not None and (not isinstance(value, int) or not 1 <= value <= 120):
            raise SetsFileError(f"{path}: {label} must be a whole number from 1 to 120")
    return WhatIfSets(sets, months, sessions)
