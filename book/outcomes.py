"""Where a finished job's result goes: the engine applies order outcomes; a verification of an
order update the book did not know is applied by `book.fills` (it needs the fill arithmetic,
which needs the engine). Both hosts (the worker, the Dagster jobs) call `apply_outcome`."""

from __future__ import annotations

from book.engine import Engine
from book.executor import Job, JobResult
from book.fills import apply_verification
from book.orders import VerifyOrder
from book.state import Changes


def apply_outcome(engine: Engine, result: JobResult, changes: Changes) -> Job | None:
    actions = result.job.actions
    if len(actions) == 1 and isinstance(actions[0], VerifyOrder):
        return apply_verification(engine, result, changes)
    return engine.apply_result(result, changes)
