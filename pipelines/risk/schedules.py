"""The daily schedule of the risk refresh job (`pipelines.risk.jobs`)."""

from __future__ import annotations

import dagster as dg

from pipelines.risk.jobs import refresh_risk_parameters

# 06:30 New York, for the previous day's partition: fresh parameters before the pre-market.
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    refresh_risk_parameters,
    name="daily_risk_refresh",
    hour_of_day=6,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
