"""The daily schedule of the risk refresh job (`pipelines.risk.jobs`): 06:30 New York.

Each day's run covers what the ATR lookback needs (`pipelines.market_data.lookback`), not only
yesterday's partition: the daily-bar partitions of the window that were never materialized are
backfilled in the same run (one run over a partition range: `daily_bars`' single-run backfill
policy), from the earliest missing one to yesterday. On a fresh instance that is the whole
window, so the first scheduled refresh gives real ATRs; afterwards it is yesterday alone. A
symbol new to the universe, whose bars the materialized partitions lack, is the sensor's
(`pipelines.risk.sensors`).
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from pipelines.common import new_york_today
from pipelines.market_data.daily_bars import daily_bars
from pipelines.market_data.lookback import lookback_window, partition_days, range_tags
from pipelines.resources import PipelineConfigResource
from pipelines.risk.jobs import refresh_risk_parameters


def refresh_range(last: date, atr_period: int, materialized: set[str]) -> tuple[date, date]:
    """The partitions one refresh run covers: from the earliest day of the ATR lookback window
    ending on `last` that was never materialized, to `last` (just `last` when none is missing)."""
    first, _ = lookback_window(last, atr_period)
    missing = [d for d in partition_days(first, last) if d.isoformat() not in materialized]
    return (missing[0] if missing else last), last


@dg.schedule(
    job=refresh_risk_parameters,
    cron_schedule="30 6 * * *",
    execution_timezone="America/New_York",
    name="daily_risk_refresh",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="06:30 New York: yesterday's bars plus any missing day of the ATR lookback, "
    "in one run, then ATR and risk parameters.",
)
def daily_refresh_schedule(
    context: dg.ScheduleEvaluationContext, pm_config: PipelineConfigResource
) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    yesterday = new_york_today(scheduled) - timedelta(days=1)
    materialized = context.instance.get_materialized_partitions(daily_bars.key)
    first, last = refresh_range(yesterday, pm_config.settings().atr_period, materialized)
    return dg.RunRequest(
        run_key=f"risk-refresh:{last.isoformat()}",
        tags={**range_tags(first, last), "pm/trigger": "daily_risk_refresh"},
    )
