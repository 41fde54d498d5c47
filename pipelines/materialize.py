"""Materialize the whole chain in-process: what the `run` command calls (no Dagster daemon).

One run covers a range of daily-bar partitions (a single-run backfill), so a fresh warehouse gets
enough history for ATR in one call: by default the last 60 calendar days up to yesterday
(New York), which holds the 15 sessions ATR(14) needs with room for holidays.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from pipelines.common import DAILY_PARTITIONS, new_york_today
from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.universe import universe
from pipelines.resources import resources_for
from pipelines.risk.atr import atr
from pipelines.risk.earnings_calendar import earnings_calendar, earnings_calendar_fresh
from pipelines.risk.risk_parameters import risk_parameters
from pipelines.risk.symbol_profiles import symbol_profiles
from position_manager.config import Settings

CHAIN: list[dg.AssetsDefinition | dg.AssetChecksDefinition] = [
    universe,
    daily_bars,
    symbol_profiles,
    atr,
    earnings_calendar,
    earnings_calendar_fresh,
    risk_parameters,
]
DEFAULT_LOOKBACK_DAYS = 60


def partition_range(
    last: date | None = None, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> tuple[str, str]:
    """(first, last) partition keys: `last` defaults to yesterday in New York."""
    end = last or new_york_today() - timedelta(days=1)
    partition_start = DAILY_PARTITIONS.start.date()
    start = max(end - timedelta(days=lookback_days), partition_start)
    return start.isoformat(), end.isoformat()


def materialize_everything(
    settings: Settings,
    *,
    broker_url: str | None = None,
    redis_url: str | None = None,
    overrides: dict[str, str] | None = None,
    last: date | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    raise_on_error: bool = True,
    log_level: str = "INFO",
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Universe, bars for the range, profiles, ATR, earnings, risk parameters (-> Redis).

    `broker_url`: a running simulator's URL (else the run starts its own); `redis_url`: the Redis
    the worker reads (else the settings'). `overrides` are Settings fields as strings.
    `instance`: where the run is recorded (default: an ephemeral one).
    """
    first_key, last_key = partition_range(last, lookback_days)
    return dg.materialize(
        CHAIN,
        resources=resources_for(
            settings, broker_url=broker_url, redis_url=redis_url, overrides=overrides
        ),
        tags={
            "dagster/asset_partition_range_start": first_key,
            "dagster/asset_partition_range_end": last_key,
        },
        raise_on_error=raise_on_error,
        instance=instance,
        # The console logger defaults to DEBUG: one line per step event drowns a terminal.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
