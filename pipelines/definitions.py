"""The code location: assembles assets, checks, jobs, schedules and resources — nothing else.

Each domain package (`market_data`, `risk`, `history`, `protection`) lists its definitions; this
module merges them. The settings are read once, when Dagster loads the code location: resources
come from the environment (`resources_for(settings)`: the embedded simulator and sample data with
no keys, Alpaca with ALPACA_API_KEY/ALPACA_SECRET_KEY), and so does the reconciliation cron.
"""

from __future__ import annotations

import dagster as dg

from pipelines import history, market_data, protection, risk, whatif
from pipelines.resources import resources_for
from position_manager.config import load_settings


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions(
        assets=[*market_data.ASSETS, *risk.ASSETS, *whatif.ASSETS],
        asset_checks=[*market_data.CHECKS, *risk.CHECKS],
        jobs=[*risk.JOBS, *history.JOBS, *protection.JOBS],
        schedules=[*risk.SCHEDULES, *protection.schedules(settings)],
        sensors=[*risk.SENSORS, *history.SENSORS, *protection.SENSORS],
        resources=resources_for(settings),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
