"""Protection: reconciliation (job, schedule, sensor) and the pre-earnings reduction (job,
sensor). Each job acts through the streaming worker when it is alive and by itself when it is
down (`worker_link`).

The schedule's cron comes from the settings, so it is built by `schedules(settings)` when the
code location assembles, not when this package is imported.
"""

from __future__ import annotations

import dagster as dg

from pipelines.protection.earnings_reduction import reduce_for_earnings_job
from pipelines.protection.earnings_sensor import pre_earnings_sensor
from pipelines.protection.reconciliation import reconcile_positions_job
from pipelines.protection.reconciliation_schedule import build_reconciliation_schedule
from pipelines.protection.reconciliation_sensor import reconciliation_sensor
from position_manager.config import Settings

JOBS = [reconcile_positions_job, reduce_for_earnings_job]
SENSORS = [pre_earnings_sensor, reconciliation_sensor]


def schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    return [build_reconciliation_schedule(settings)]
