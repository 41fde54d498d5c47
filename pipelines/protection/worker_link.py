"""Who acts on a symbol's orders: the streaming worker when it is alive, else the Dagster job.

Protection must not depend on the worker being alive (ARCHITECTURE.md). So the earnings and
reconciliation jobs first read the worker's heartbeat: fresh -> they publish a command and the
worker acts (it holds the book in memory, and two parties deciding at once would race); stale or
missing -> the job acts itself with the worker's own code: the same `Engine` (rules), the same
`OrderExecutor` (per-symbol Redis lease, deterministic client order ids, write-ahead of exits) and
the same `StateStore` (state + events in one MULTI/EXEC). A worker that comes back later loads that
state and finds the flags set, so nothing is done twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from broker.interface import Broker
from position_manager.broker_types import BrokerOrder, BrokerPosition
from position_manager.config import Settings
from position_manager.events import SESSION_KEY
from position_manager.market_calendar import session_at as calendar_session
from position_manager.session import Session
from rules.apply import stop_lost
from rules.model import Side
from rules.params import RuleParams
from rules.reconcile import reconcile_symbol
from streaming.engine import Engine
from streaming.executor import Job, JobResult, OrderExecutor
from streaming.health import heartbeat_age
from streaming.risk_params import load_risk_params
from streaming.state import Changes, Held, StateStore

# The worker's heartbeat key expires after 15 s; twice that is a worker that is really gone.
WORKER_MAX_AGE_SECONDS: Final = 30.0
# StateStore.commit only XACKs through this group, and jobs never ack anything.
STATE_GROUP: Final = "dagster"


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    alive: bool
    heartbeat_age: float | None

    def describe(self) -> str:
        if self.heartbeat_age is None:
            return "no worker heartbeat"
        state = "alive" if self.alive else "down"
        return f"worker {state} (heartbeat {self.heartbeat_age:.0f}s old)"


def worker_status(client: Any, max_age_seconds: float = WORKER_MAX_AGE_SECONDS) -> WorkerStatus:
    age = heartbeat_age(client)
    return WorkerStatus(age is not None and age <= max_age_seconds, age)


def current_session(client: Any, now: datetime | None = None) -> Session:
    """The session the worker uses (published in Redis), else the exchange calendar's."""
    raw = client.get(SESSION_KEY)
    if raw is not None:
        try:
            return Session((raw.decode() if isinstance(raw, bytes) else str(raw)).upper())
        except ValueError:
            pass
    return calendar_session(now or datetime.now(UTC))


def build_engine(settings: Settings, client: Any, symbols: Iterable[str]) -> Engine:
    """The worker's engine with the worker's persisted book, session and risk parameters."""
    engine = Engine(
        RuleParams.from_settings(settings), pnl_interval=settings.pnl_event_interval_seconds
    )
    for symbol, held in StateStore(client, STATE_GROUP).load_all().items():
        engine.held[symbol] = held
        engine.held_bytes[symbol.encode()] = held
    engine.session = current_session(client)
    engine.risk_loader = lambda symbol: load_risk_params(client, [symbol])[symbol]
    engine.risk.update(load_risk_params(client, set(symbols) | set(engine.held)))
    return engine


def adopt_position(
    engine: Engine, bp: BrokerPosition, orders: Sequence[BrokerOrder], changes: Changes
) -> Held:
    """One broker position merged into the engine's book, its live stop matched.

    The per-symbol part of the startup scan (`streaming.scan.reconcile`, which works on the whole
    book): the broker is the truth for quantity, entry and which stop is live; the persisted
    state keeps best price, profit levels and the report date already reduced for.
    """
    side = Side.LONG if bp.qty > 0 else Side.SHORT
    held = engine.held.get(bp.symbol)
    if held is not None and held.position.side is side:
        pos = held.position.evolve(
            quantity=bp.qty,
            entry_price=bp.avg_entry_price,
            original_quantity=max(held.position.original_quantity, abs(bp.qty)),
        )
    else:
        token = str(bp.avg_entry_price)
        held = Held(engine.new_position(bp.symbol, bp.qty, bp.avg_entry_price, token))
        pos = held.position
    if bp.current_price is not None and bp.current_price > 0:
        pos = pos.evolve(last_price=bp.current_price)
    kept = reconcile_symbol(pos, list(orders)).kept_stop
    if kept is not None:
        pos = pos.evolve(
            stop_order_id=kept.id,
            stop_price=kept.stop_price if kept.stop_price is not None else pos.stop_price,
            stop_quantity=kept.qty,
        )
    elif pos.stop_order_id is not None:
        pos = stop_lost(pos)
    held.position = pos.evolve(session=engine.session)
    engine.put(held, changes)
    return held


def run_jobs(
    engine: Engine,
    broker: Broker,
    client: Any,
    jobs: Sequence[Job],
    changes: Changes,
    *,
    owner: str,
    timeout_seconds: float = 60.0,
) -> list[JobResult]:
    """Run order jobs one at a time under each symbol's lease (named `owner`), applying each
    outcome to the engine's book exactly as the worker would (state, `position.*` events)."""
    executor = OrderExecutor(broker, client, threads=1, lease_owner=owner)
    engine.busy = executor.busy
    results: list[JobResult] = []
    try:
        for job in jobs:
            executor.submit(job)
            done: list[JobResult] = []
            while not done:
                if not executor.wait_for_completion(timeout_seconds):
                    raise TimeoutError(f"{job.symbol}: order job did not finish")
                done = executor.completed()
            for result in done:
                engine.apply_result(result, changes)
            results += done
    finally:
        engine.busy = lambda symbol: False
        executor.shutdown()
    return results


def commit(client: Any, changes: Changes) -> None:
    StateStore(client, STATE_GROUP).commit(changes)
