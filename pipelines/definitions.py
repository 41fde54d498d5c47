"""The code location: assembles assets, checks, jobs, schedules and resources — nothing else.

Resources come from the environment (`resources_for(load_settings())`): the embedded simulator and
sample data with no keys, Alpaca with ALPACA_API_KEY/ALPACA_SECRET_KEY.
"""

from __future__ import annotations

import dagster as dg

from pipelines import assets as assets_package
from pipelines.earnings_reduction import reduce_for_earnings_job
from pipelines.history import ingest_position_history
from pipelines.jobs import daily_refresh_schedule, refresh_risk_parameters
from pipelines.reconciliation import reconcile_positions_job, reconciliation_schedule
from pipelines.resources import resources_for
from pipelines.sensors.earnings import pre_earnings_sensor
from pipelines.sensors.history import position_history_sensor
from pipelines.sensors.reconciliation import reconciliation_sensor
from position_manager.config import load_settings

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets_package),
    asset_checks=dg.load_asset_checks_from_package_module(assets_package),
    jobs=[
        refresh_risk_parameters,
        ingest_position_history,
        reconcile_positions_job,
        reduce_for_earnings_job,
    ],
    schedules=[daily_refresh_schedule, reconciliation_schedule],
    sensors=[position_history_sensor, pre_earnings_sensor, reconciliation_sensor],
    resources=resources_for(load_settings()),
    executor=dg.in_process_executor,
)
