"""The job that refreshes the chain (its daily schedule is in `pipelines.risk.schedules`).

The job runs in-process (one step at a time) so two steps never hold the DuckDB file at once;
every warehouse-writing asset is also in the `duckdb` pool, which limits concurrent runs when the
instance sets `concurrency: pools: default_limit: 1`.
"""

from __future__ import annotations

import dagster as dg

RISK_CHAIN = dg.AssetSelection.groups("market_data", "reference_data", "risk")

refresh_risk_parameters = dg.define_asset_job(
    name="refresh_risk_parameters",
    selection=RISK_CHAIN,
    description="Universe -> daily bars -> ATR -> risk parameters <- profiles, earnings calendar.",
    executor_def=dg.in_process_executor,
    tags={"warehouse": "writer"},
)
