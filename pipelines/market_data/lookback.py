"""How much bar history the ATR needs, as a range of daily-bar partitions for one run.

ATR(period) needs period + 1 consecutive clean bars (`pipelines.lib.atr`). The refresh asks for
that many XNYS sessions plus `LOOKBACK_MARGIN_SESSIONS` (a bar flagged by the OHLC rules, or a
day the broker has no bar for, restarts the count), back from the last closed session. The
partitions are calendar days, so the window is longer in days (about four weeks at ATR(14)).

The range travels as Dagster's partition-range tags: `daily_bars` has a single-run backfill
policy, so the whole window is one run (one multi-symbol bar request per 100 symbols), not one
run per day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from pipelines.common import DAILY_PARTITIONS
from position_manager.market_calendar import market_days

LOOKBACK_MARGIN_SESSIONS: Final = 5
# Dagster's run tags for a partition range (what a single-run backfill is).
ASSET_PARTITION_RANGE_START_TAG: Final = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG: Final = "dagster/asset_partition_range_end"


def lookback_sessions(atr_period: int) -> int:
    """Sessions of bars a refresh keeps: ATR's period + 1, plus the margin."""
    return atr_period + 1 + LOOKBACK_MARGIN_SESSIONS


def lookback_start(last: date, sessions: int) -> date:
    """The first day of the shortest window ending on `last` that holds `sessions` XNYS
    sessions, never before the first daily-bar partition."""
    partition_start = DAILY_PARTITIONS.start.date()
    span = 2 * sessions + 14  # calendar days: weekends plus the longest holiday cluster
    while True:
        first = last - timedelta(days=span)
        days = market_days(max(first, partition_start), last)
        if len(days) >= sessions:
            return days[-sessions].date
        if first <= partition_start:
            return partition_start
        span *= 2


def lookback_window(last: date, atr_period: int) -> tuple[date, date]:
    """(first, last) partition dates the ATR lookback needs, ending on `last`."""
    return lookback_start(last, lookback_sessions(atr_period)), last


def partition_days(first: date, last: date) -> list[date]:
    """Every daily partition from `first` to `last` (calendar days, weekends included)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def range_tags(first: date, last: date) -> dict[str, str]:
    """The run tags that make one run of the refresh job cover partitions first..last."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
    }
