"""The job that refreshes the chain, and its daily schedule.

The job runs in-process (one step at a time) so two steps never hold the DuckDB file at once;
every warehouse-writing asset is also in the `duckdb` pool, which limits concurrent runs when the
instance sets `concurrency: pools: default_limit: 1`.
"""

from __future__ import annotations

import dagster as dg

from pipelines.common import DAILY_PARTITIONS

RISK_CHAIN = dg.AssetSelection.groups("market_data", "reference_data", "risk")

refresh_risk_parameters = dg.define_asset_job(
    name="refresh_risk_parameters",
    selection=RISK_CHAIN,
    description="Universe -> daily bars -> ATR -> risk parameters <- profiles, earnings calendar.",
    executor_def=dg.in_process_executor,
    tags={"warehouse": "writer"},
)

# 06:30 New York, for the previous day's partition: fresh parameters before the pre-market.
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    refresh_risk_parameters,
    name="daily_risk_refresh",
    hour_of_day=6,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

__all__ = ["DAILY_PARTITIONS", "daily_refresh_schedule", "refresh_risk_parameters"]
