"""The reconciliation schedule: one tick every `RECONCILE_EVERY_MINUTES` (default 5); outside
market sessions (the exchange calendar says CLOSED) only every
`RECONCILE_OFF_HOURS_EVERY_MINUTES` (default 60).

A schedule's cron is fixed when Dagster loads the code location, so the intervals come from the
settings given to `build_reconciliation_schedule` (`pipelines.definitions` passes the ones it
reads when the code location loads). Nothing is read when this module is imported: importing
`reconciliation_schedule` from here builds it from the environment's settings on first use.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation's type.

from datetime import datetime

import dagster as dg

from pipelines.common import NEW_YORK, now_utc
from pipelines.protection.reconciliation import reconcile_positions_job, reconcile_run_config
from position_manager.config import Settings, load_settings
from position_manager.market_calendar import session_at as calendar_session
from position_manager.session import Session

# How a skip reason names the session ("The market is in pre-market at 07:10 New York").
_SESSION_WORDS = {
    Session.PRE: "in pre-market",
    Session.REGULAR: "open",
    Session.POST: "in after-hours",
    Session.CLOSED: "closed",
}


def schedule_decision(
    at: datetime, market_every: int, off_hours_every: int
) -> tuple[bool, Session]:
    """Run at `at`? Every tick while a session (pre, regular, post) is on; otherwise only on
    the off-hours grid (minutes since midnight New York divisible by `off_hours_every`)."""
    session = calendar_session(at)
    if session is not Session.CLOSED:
        return True, session
    local = at.astimezone(NEW_YORK)
    minute_of_day = local.hour * 60 + local.minute
    return minute_of_day % off_hours_every == 0, session


def build_reconciliation_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """The schedule with `settings`' intervals (read once: the cron cannot change after load)."""
    market_every_minutes = settings.reconcile_every_minutes
    off_hours_every_minutes = settings.reconcile_off_hours_every_minutes

    @dg.schedule(
        job=reconcile_positions_job,
        cron_schedule=f"*/{market_every_minutes} * * * *",
        execution_timezone="America/New_York",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Reconcile every few minutes while the market is open, hourly otherwise.",
    )
    def reconciliation_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        at = context.scheduled_execution_time or now_utc()
        run, session = schedule_decision(at, market_every_minutes, off_hours_every_minutes)
        if not run:
            return dg.SkipReason(
                f"The market is {_SESSION_WORDS.get(session, session.value)} at "
                f"{at.astimezone(NEW_YORK):%H:%M} New York: off-hours reconciliation runs every "
                f"{off_hours_every_minutes} minutes."
            )
        return dg.RunRequest(
            run_key=f"reconcile:schedule:{at.isoformat()}",
            run_config=reconcile_run_config("schedule"),
            tags={"pm/session": session.value},
        )

    return reconciliation_schedule


def __getattr__(name: str) -> dg.ScheduleDefinition:
    """`reconciliation_schedule`, built from the environment's settings when first asked for."""
    if name != "reconciliation_schedule":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    schedule = build_reconciliation_schedule(load_settings())
    globals()[name] = schedule
    return schedule
