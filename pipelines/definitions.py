"""The code location: assembles assets, checks, jobs, schedules and resources — nothing else.

Resources come from the environment (`resources_for(load_settings())`): the embedded simulator and
sample data with no keys, Alpaca with ALPACA_API_KEY/ALPACA_SECRET_KEY.
"""

from __future__ import annotations

import dagster as dg

from pipelines import history, market_data, risk
from pipelines.earnings_reduction import reduce_for_earnings_job
from pipelines.reconciliation import reconcile_positions_job, reconciliation_schedule
from pipelines.resources import resources_for
from pipelines.sensors.earnings import pre_earnings_sensor
from pipelines.sensors.reconciliation import reconciliation_sensor
from position_manager.config import load_settings

defs = dg.Definitions(
    assets=[*market_data.ASSETS, *risk.ASSETS],
    asset_checks=[*market_data.CHECKS, *risk.CHECKS],
    jobs=[
        *risk.JOBS,
        *history.JOBS,
        reconcile_positions_job,
        reduce_for_earnings_job,
    ],
    schedules=[*risk.SCHEDULES, reconciliation_schedule],
    sensors=[*history.SENSORS, pre_earnings_sensor, reconciliation_sensor],
    resources=resources_for(load_settings()),
    executor=dg.in_process_executor,
)
