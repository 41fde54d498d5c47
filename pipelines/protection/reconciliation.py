"""The reconciliation job: are the broker's stops what the rules expect?

The comparison is the worker's startup scan (`book.reconcile.reconcile`): every position needs
exactly one stop of the position's size on the closing side; duplicates and stops without a
position are cancelled. With the worker alive the job only counts what is wrong and publishes
`command.reconcile` (the worker fixes it with its in-memory book); with the worker down the job
fixes it itself under each symbol's lease (see `book.jobs`). Either way
one row per run goes to `reconciliation_runs` (found / fixed / remaining), shown as the run's
metadata. Its schedule is in `reconciliation_schedule`, its sensor in `reconciliation_sensor`.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation's type.

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import dagster as dg
import redis

from book.catchup import read_broker, reconcile_with_broker, references
from book.executor import JobResult
from book.health import WORKER_MAX_AGE_SECONDS, WorkerStatus, check_worker_down, worker_status
from book.jobs import JobBook
from book.reconcile import reconcile
from book.recovery import recover_inflight
from book.state import Changes
from broker.interface import Broker
from pipelines.common import WAREHOUSE_POOL, now_utc
from pipelines.resources import (
    BrokerResource,
    PipelineConfigResource,
    RedisResource,
    WarehouseResource,
)
from position_manager import events
from position_manager.config import Settings
from position_manager.events import publish
from rules.decisions import CancelOrder, PlaceStop, ReplaceStop, SubmitExit
from rules.reconcile import ReconcileSummary
from warehouse.errors import WarehouseBusyError
from warehouse.tables import RECONCILIATION_RUNS

RECONCILE_OP: Final = "reconcile_positions"


@dataclass
class ReconcileOutcome:
    """What one run found and did; becomes a `reconciliation_runs` row and the run metadata."""

    mode: str  # "self" | "worker"
    positions_checked: int
    found: int
    fixed: int = 0
    stops_placed: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(self.found - self.fixed, 0)

    @property
    def status(self) -> str:
        if self.found == 0:
            return "ok"
        if self.mode == "worker":
            return "delegated"
        if self.remaining == 0:
            return "fixed"
        return "partial" if self.fixed else "failed"


def findings(summary: ReconcileSummary) -> dict[str, list[str]]:
    """What is wrong, by kind (symbols for stops, order ids for cancels)."""
    return {
        "missing_stops": list(summary.stops_to_place),
        "mis_sized_stops": list(summary.stops_to_resize),
        "duplicate_stops": list(summary.duplicates_to_cancel),
        "orphan_stops": list(summary.orphans_to_cancel),
    }


def tally(results: list[JobResult]) -> tuple[int, int, dict[str, list[str]]]:
    """(fixes, stops placed, what was done/left) from the executed jobs' outcomes."""
    done: dict[str, list[str]] = {"placed": [], "resized": [], "cancelled": [], "exited": []}
    errors: list[str] = []
    for result in results:
        if result.lease_busy:
            errors.append(f"{result.job.symbol}: lease held by another party")
        for outcome in result.outcomes:
            action = outcome.action
            if outcome.error is not None:
                errors.append(f"{result.job.symbol}: {type(outcome.error).__name__}")
            elif isinstance(action, PlaceStop):
                done["placed"].append(f"{action.symbol} {action.qty} @ {action.stop_price}")
            elif isinstance(action, ReplaceStop):
                done["resized"].append(f"{action.symbol} -> {action.qty}")
            elif isinstance(action, CancelOrder):
                done["cancelled"].append(action.order_id)
            elif isinstance(action, SubmitExit):
                done["exited"].append(f"{action.symbol} {action.qty} ({action.reason})")
    fixes = sum(len(v) for v in done.values())
    return fixes, len(done["placed"]), {**done, "errors": errors}


class ReconcileConfig(dg.Config):
    """`trigger` is recorded with the row: schedule, sensor (and why) or manual."""

    trigger: str = "manual"
    worker_max_age_seconds: float = WORKER_MAX_AGE_SECONDS


def reconcile_once(
    broker: Broker,
    client: redis.Redis,
    settings: Settings,
    status: WorkerStatus,
    run_id: str,
    trigger: str,
) -> ReconcileOutcome:
    positions = broker.list_positions()
    orders = broker.list_open_orders()
    with JobBook(
        settings, broker, client, {p.symbol for p in positions}, owner="reconcile"
    ) as book:
        engine = book.engine
        changes = Changes()
        if status.alive:
            # A dry run on a throw-away book: count, then let the worker (which owns the book)
            # act.
            _jobs, summary = reconcile(engine, positions, orders, changes)
            found = findings(summary)
            count = sum(len(v) for v in found.values())
            if count:
                publish(
                    client,
                    events.COMMAND_RECONCILE,
                    {"symbol": None, "run_id": run_id, "trigger": trigger, "found": count},
                )
            return ReconcileOutcome("worker", summary.positions, count, details={"found": found})
        check_worker_down(client)  # raises alert.worker_down, at most once per 5 min
        recover_inflight(engine, broker, changes)
        # What the broker did while nobody listened (fills, cancels): applied first, so a
        # position the broker no longer holds is closed at its fill price (book.catchup).
        view = read_broker(broker, book.store.catch_up_cursor(), references(engine))
        jobs, summary = reconcile_with_broker(engine, view, changes)
        book.commit(changes)
        found = findings(summary)
        changes = Changes()
        results = book.run(jobs, changes)
        book.commit(changes)
    fixes, placed, done = tally(results)
    count = sum(len(v) for v in found.values())
    left = [s for s in found["missing_stops"] if s not in {j.symbol for j in jobs}]
    return ReconcileOutcome(
        "self",
        summary.positions,
        count,
        fixed=min(fixes, count),
        stops_placed=placed,
        details={"found": found, "done": done, "not_actionable_now": left},
    )


def record_run(
    conn: Any,
    run_id: str,
    started: datetime,
    outcome: ReconcileOutcome,
    status: WorkerStatus,
    trigger: str,
) -> None:
    conn.execute(
        f"INSERT INTO {RECONCILIATION_RUNS} (run_id, started_at, finished_at, status, "
        "positions_checked, stops_placed, discrepancies, worker_heartbeat_age, details, mode, "
        "trigger, found, fixed, remaining) VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id) DO NOTHING",
        [run_id, started, outcome.status, outcome.positions_checked, outcome.stops_placed,
         outcome.found, status.heartbeat_age, json.dumps(outcome.details), outcome.mode,
         trigger, outcome.found, outcome.fixed, outcome.remaining],
    )  # fmt: skip


@dg.op(
    name=RECONCILE_OP,
    pool=WAREHOUSE_POOL,
    description="Compare the broker's stops with the rules; fix them when the worker is down.",
)
def reconcile_positions(
    context: dg.OpExecutionContext,
    config: ReconcileConfig,
    broker: BrokerResource,
    redis: RedisResource,
    duckdb: WarehouseResource,
    pm_config: PipelineConfigResource,
) -> dg.Output[None]:
    started = now_utc()
    settings = pm_config.settings()
    with redis.get_client() as client:
        status = worker_status(client, config.worker_max_age_seconds)
        context.log.info(f"reconcile: {status.describe()}, trigger={config.trigger}")
        outcome = reconcile_once(
            broker.get_broker(), client, settings, status, context.run_id, config.trigger
        )
    metadata: dict[str, Any] = {
        "mode": outcome.mode,
        "worker": status.describe(),
        "status": outcome.status,
        "positions_checked": outcome.positions_checked,
        "found": outcome.found,
        "fixed": outcome.fixed,
        "remaining": outcome.remaining,
        "details": dg.MetadataValue.json(outcome.details),
    }
    try:
        with duckdb.get_connection() as conn:
            record_run(conn, context.run_id, started, outcome, status, config.trigger)
    except WarehouseBusyError as exc:
        # The stops are what matter; the row is bookkeeping. Say so rather than fail the run.
        context.log.warning(f"reconciliation row not recorded: {exc}")
        metadata["row_recorded"] = f"no: {exc}"
    return dg.Output(None, metadata=metadata)


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"warehouse": "writer"},
    description="Broker stops vs the rules; fixes them itself when the worker is down.",
)
def reconcile_positions_job() -> None:
    reconcile_positions()


def reconcile_run_config(trigger: str) -> dict[str, Any]:
    return {"ops": {RECONCILE_OP: {"config": {"trigger": trigger}}}}
