"""Order changes off the quote loop: one job per symbol at a time, on a thread pool.

The loop never waits for the broker. It hands a symbol's decisions to `OrderExecutor.submit` and
keeps reading quotes; a worker thread makes sure the symbol's lease is ours, runs the decisions
in order (a partial exit's stop shrink before the sale) and stops at the first failure; the
outcome comes back through `completed()`, which the loop drains and applies (state, events, acks)
on its own thread.

The lease: with a `LeaseKeeper` (the worker) the lease is standing and checked in process before
every action, so no Redis round trip precedes the order request; without one (the pipelines'
jobs) a `SymbolLease` is taken and released around the job.

Latency: the pool is sized so that a job never queues behind another symbol's slow broker call
(at most one job per symbol is in flight; a thread is started only when none is idle), and the
blocking broker reads of housekeeping (`background`) have their own threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis

from book.guard import OrderGuard
from book.lease import LeaseBusyError, LeaseKeeper, SymbolLease
from book.orders import (
    Action,
    ConfirmPrice,
    VerifyOrder,
    await_cancel,
    await_replacement,
    execute,
)
from book.state import record_inflight
from broker.errors import OrderNotFoundError
from broker.interface import Broker
from position_manager.broker_types import BrokerOrder, BrokerPosition
from position_manager.logging import log_kv
from rules.decisions import CancelOrder, ReplaceStop, SubmitExit

log = logging.getLogger(__name__)


@dataclass
class Job:
    symbol: str
    actions: tuple[Action, ...]
    cause: str  # "quote", "fill", "startup", "retry", "command", "entry", ...
    acks: list[tuple[str, Any]] = field(default_factory=list)  # acked when the job is applied
    context: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.perf_counter)


@dataclass
class Outcome:
    action: Action
    order: BrokerOrder | None = None
    error: Exception | None = None
    price: Decimal | None = None  # the broker's latest trade, for a ConfirmPrice
    position: BrokerPosition | None = None  # the broker's position, for a VerifyOrder

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class JobResult:
    job: Job
    outcomes: list[Outcome]
    lease_busy: bool = False


class OrderExecutor:
    """`submit` refuses a second job for a busy symbol: the loop checks `busy` first."""

    def __init__(
        self,
        broker: Broker,
        redis_client: redis.Redis,
        *,
        threads: int = 16,
        lease_ttl_ms: int = 30_000,
        on_request: Callable[[Job, Action], None] | None = None,
        lease_owner: str = "worker",
        leases: LeaseKeeper | None = None,
        wait: Callable[[float], None] = time.sleep,
        guard: OrderGuard | None = None,
    ) -> None:
        self._broker = broker
        self._guard = guard  # the last check before an order leaves (book.guard)
        # How an order thread waits for a cancel or a replace to land (a test whose simulator
        # clock is frozen passes one that lets simulated time pass instead).
        self._wait = wait
        self._lease_owner = lease_owner  # who the lease names: "worker", or a Dagster job
        self._redis = redis_client
        self._lease_ttl_ms = lease_ttl_ms
        self._leases = leases  # standing leases (the worker); None: one lease per job
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pm-orders")
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pm-reads")
        self._done: queue.SimpleQueue[JobResult] = queue.SimpleQueue()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._on_request = on_request  # instrumentation: called as a request leaves

    def busy(self, symbol: str) -> bool:
        return symbol in self._busy

    @property
    def busy_symbols(self) -> set[str]:
        with self._lock:
            return set(self._busy)

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    def submit(self, job: Job) -> bool:
        with self._lock:
            if job.symbol in self._busy:
                return False
            self._busy.add(job.symbol)
        self._pool.submit(self._run, job)
        return True

    def _run(self, job: Job) -> None:
        outcomes: list[Outcome] = []
        keeper = self._leases
        lease = None
        if keeper is None:
            lease = SymbolLease(
                self._redis, job.symbol, owner=self._lease_owner, ttl_ms=self._lease_ttl_ms
            )
        busy = False
        try:
            if keeper is not None:
                ours = keeper.verify(job.symbol)  # in process, no round trip if held
            else:
                ours = lease is not None and lease.acquire()
            if not ours:
                busy = True
            else:
                exits = [a.client_order_id for a in job.actions if isinstance(a, SubmitExit)]
                if exits:
                    record_inflight(self._redis, job.symbol, exits)
                for n, action in enumerate(job.actions):
                    if n and keeper is not None and not keeper.verify(job.symbol):
                        # lost between two actions (renewals stalled and someone took it)
                        outcomes.append(Outcome(action, error=LeaseBusyError(job.symbol, None)))
                        break
                    if self._on_request is not None:
                        self._on_request(job, action)
                    try:
                        if isinstance(action, ConfirmPrice):
                            price = self._broker.get_latest_trade_price(action.symbol)
                            outcomes.append(Outcome(action, price=price))
                            continue
                        if isinstance(action, VerifyOrder):
                            outcomes.append(verify_order(self._broker, action))
                            continue
                        if self._guard is not None:
                            self._guard.check(self._broker, action)
                        order = execute(self._broker, action)
                        if _sale_follows(job.actions[n + 1 :]):
                            if isinstance(action, CancelOrder):
                                await_cancel(self._broker, action.order_id, sleep=self._wait)
                            elif isinstance(action, ReplaceStop) and order is not None:
                                await_replacement(self._broker, order, sleep=self._wait)
                    except Exception as exc:  # typed broker errors, or anything unexpected
                        outcomes.append(Outcome(action, error=exc))
                        log_kv(
                            log,
                            logging.WARNING,
                            "order action failed",
                            symbol=job.symbol,
                            action=type(action).__name__,
                            client_order_id=getattr(action, "client_order_id", None),
                            error=type(exc).__name__,
                            detail=str(exc),
                        )
                        break
                    outcomes.append(Outcome(action, order=order))
                    log_kv(
                        log,
                        logging.INFO,
                        "order action done",
                        symbol=job.symbol,
                        action=type(action).__name__,
                        order_id=order.id if order else getattr(action, "order_id", None),
                        client_order_id=getattr(action, "client_order_id", None),
                    )
        except Exception as exc:  # the lease itself failed (Redis down): report, never hang
            outcomes.append(Outcome(job.actions[0], error=exc))
        finally:
            try:
                if lease is not None:
                    lease.release()
            except Exception:
                log.exception("lease release failed")
            self._done.put(JobResult(job, outcomes, lease_busy=busy))

    def completed(self) -> list[JobResult]:
        """Finished jobs since the last call; marks their symbols free again."""
        out: list[JobResult] = []
        while True:
            try:
                result = self._done.get_nowait()
            except queue.Empty:
                break
            out.append(result)
        if out:
            with self._lock:
                for result in out:
                    self._busy.discard(result.job.symbol)
        return out

    def wait_for_completion(self, timeout: float) -> bool:
        """Block until at least one job result is ready (tests and shutdown; never the loop)."""
        deadline = time.monotonic() + timeout
        while self._done.empty():
            if not self._busy or time.monotonic() > deadline:
                return not self._done.empty()
            time.sleep(0.002)
        return True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    def background(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run a blocking broker read (reconcile snapshot, health probe) off the loop, on
        threads of its own: a slow read never delays an order job."""
        return self._readers.submit(fn)


def verify_order(broker: Broker, action: VerifyOrder) -> Outcome:
    """The broker's word on an order update: the order (None if it has no such order) and the
    symbol's position now (None when flat)."""
    try:
        order: BrokerOrder | None = broker.get_order(action.order_id)
    except OrderNotFoundError:
        order = None
    return Outcome(action, order=order, position=broker.get_position(action.symbol))


def _sale_follows(rest: tuple[Action, ...]) -> bool:
    return any(isinstance(a, SubmitExit) for a in rest)
