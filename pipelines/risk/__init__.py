"""Risk: symbol profiles, the earnings calendar, ATR, the risk parameters published to Redis, and
the job that refreshes the whole chain, with its daily schedule and the sensor that backfills the
ATR lookback when a held or watched symbol has no ATR (first start, a new symbol).

Most checks are check specs of their asset (ATR's blocking `atr_values_sane`, ...); `CHECKS`
holds the one defined on its own, the earnings calendar's freshness.
"""

from __future__ import annotations

import dagster as dg

from pipelines.risk.atr import atr
from pipelines.risk.earnings_calendar import earnings_calendar, earnings_calendar_fresh
from pipelines.risk.jobs import refresh_risk_parameters
from pipelines.risk.risk_parameters import risk_parameters
from pipelines.risk.schedules import daily_refresh_schedule
from pipelines.risk.sensors import atr_history_sensor
from pipelines.risk.symbol_profiles import symbol_profiles

ASSETS: list[dg.AssetsDefinition] = [symbol_profiles, atr, earnings_calendar, risk_parameters]
CHECKS: list[dg.AssetChecksDefinition] = [earnings_calendar_fresh]
JOBS = [refresh_risk_parameters]
SCHEDULES = [daily_refresh_schedule]
SENSORS = [atr_history_sensor]
