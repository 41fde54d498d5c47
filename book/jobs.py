"""The position service as a Dagster job uses it: who acts, and acting with the worker's code.

Protection must not depend on the worker being alive. So the earnings and reconciliation jobs
first read the worker's heartbeat (`book.health.worker_status`): fresh -> they publish a command
and the worker acts (it holds the book in memory, and two parties deciding at once would race);
stale or missing -> the job acts itself through a `JobBook`: the same `Engine` (rules), the same
`OrderExecutor` (per-symbol Redis lease, deterministic client order ids, write-ahead of exits)
and the same `StateStore` (state + events in one MULTI/EXEC) as the worker. A worker that comes
back later loads that state and finds the flags set, so nothing is done twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Final

import redis

from book.applied import decode_entries
from book.engine import Engine
from book.executor import Job, JobResult, OrderExecutor
from book.guard import OrderGuard
from book.outcomes import apply_outcome
from book.risk import load_risk_params, risk_loader
from book.session import read_session
from book.state import Changes, StateStore
from broker.interface import Broker
from position_manager.config import Settings
from rules.params import RuleParams

# StateStore.commit only XACKs through this group, and jobs never ack anything.
STATE_GROUP: Final = "dagster"


def build_engine(
    settings: Settings,
    client: redis.Redis,
    store: StateStore,
    symbols: Iterable[str],
    *,
    executor: OrderExecutor | None = None,
) -> Engine:
    """The engine with the persisted book, the session and the risk parameters of `symbols` and
    of every held symbol: what both hosts start from."""
    engine = Engine(
        RuleParams.from_settings(settings),
        busy=executor.busy if executor is not None else lambda symbol: False,
        risk_loader=risk_loader(client),
        pnl_interval=settings.pnl_event_interval_seconds,
    )
    engine.load(store.load_all())
    engine.applied.load(decode_entries(store.load_applied()))
    engine.session = read_session(client)
    engine.risk.update(load_risk_params(client, set(symbols) | set(engine.held)))
    return engine


class JobBook:
    """The book for one Dagster run: order jobs run one at a time under each symbol's lease
    (named `owner`), each outcome applied to the book exactly as the worker would apply it."""

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        client: redis.Redis,
        symbols: Iterable[str],
        *,
        owner: str,
    ) -> None:
        self.store = StateStore(client, STATE_GROUP)
        self.store.refresh_clock()
        guard = OrderGuard(lambda s: self.engine.position_of(s), settings.max_order_notional)
        self.executor = OrderExecutor(broker, client, threads=1, lease_owner=owner, guard=guard)
        self.engine = build_engine(settings, client, self.store, symbols, executor=self.executor)

    def run(
        self, jobs: Sequence[Job], changes: Changes, *, timeout_seconds: float = 60.0
    ) -> list[JobResult]:
        results: list[JobResult] = []
        for job in jobs:
            self.executor.submit(job)
            done: list[JobResult] = []
            while not done:
                if not self.executor.wait_for_completion(timeout_seconds):
                    raise TimeoutError(f"{job.symbol}: order job did not finish")
                done = self.executor.completed()
            for result in done:
                follow_up = apply_outcome(self.engine, result, changes)
                if follow_up is not None:
                    results += self.run([follow_up], changes, timeout_seconds=timeout_seconds)
            results += done
        return results

    def commit(self, changes: Changes) -> None:
        self.store.commit(changes)

    def close(self) -> None:
        self.executor.shutdown()

    def __enter__(self) -> JobBook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
