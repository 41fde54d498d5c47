"""The streaming worker: reads the streams, runs the engine, commits, hands orders to the executor.

`Worker.process_batch()` is one pass of the loop (tests call it step by step); `Worker.run()`
loops until a stop event; `run_worker()` is what the CLI calls. Per pass: apply finished order
jobs, run due retries, read every stream (COUNT per stream, short BLOCK), dispatch, then commit
state + events + acks in one MULTI/EXEC.

After a crash or an outage (`start`, and `run` when Redis comes back) the worker does not trust
the streams to have told it everything: it applies the order updates waiting in the stream,
then asks the broker what else happened since it last caught up (`book.catchup`) before the
startup scan concludes anything.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis

from book.applied import decode_entries
from book.catchup import read_broker, reconcile_with_broker, references
from book.engine import Engine
from book.executor import Job, OrderExecutor
from book.guard import OrderGuard
from book.lease import LeaseKeeper
from book.outcomes import apply_outcome
from book.recovery import recover_inflight
from book.risk import load_risk_params, risk_loader
from book.state import Changes, StateStore
from broker.interface import Broker
from broker.resilience import StartAbandonedError, call_until_answered
from position_manager import events
from position_manager.config import Settings
from position_manager.logging import log_kv
from rules.params import RuleParams
from rules.protection_order import protection_eta_seconds
from rules.reconcile import ReconcileSummary
from streaming.consumer import Consumer, ConsumerConfig, Message
from streaming.dispatch import Dispatcher
from streaming.housekeeping import Housekeeping
from streaming.portfolio_guard import PortfolioGuard, limits_from

log = logging.getLogger(__name__)
T = TypeVar("T")

STREAMS = (
    events.SESSION_STREAM,
    events.ORDERS_STREAM,
    events.RISK_STREAM,
    events.COMMANDS_STREAM,
    events.QUOTES_STREAM,
)


def default_consumer_name() -> str:
    return os.environ.get("PM_WORKER_NAME") or f"worker-{socket.gethostname()}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        client: redis.Redis,
        *,
        consumer: ConsumerConfig | None = None,
        threads: int = 16,
        on_request: Callable[[Job, Any], None] | None = None,
        on_job: Callable[[Job], None] | None = None,
        housekeeping_interval: float = 1.0,
        wait: Callable[[float], None] = time.sleep,
        startup_backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.client = client
        cfg = consumer or ConsumerConfig(consumer=default_consumer_name())
        self.consumer = Consumer(client, STREAMS, cfg)
        self.store = StateStore(client, cfg.group)
        # Standing per-symbol leases: no Redis round trip before an order (book.lease). The
        # consumer name is the worker's identity: a restart takes its own leases back at once.
        self.leases = LeaseKeeper(client, owner=cfg.consumer)
        self.startup_backoff = startup_backoff  # first and longest wait for a broker at start
        self._redis_lost = False
        guard = OrderGuard(lambda s: self.engine.position_of(s), settings.max_order_notional)
        self.executor = OrderExecutor(
            broker,
            client,
            threads=threads,
            on_request=on_request,
            leases=self.leases,
            wait=wait,
            guard=guard,
        )
        self.engine = Engine(
            RuleParams.from_settings(settings),
            busy=self.executor.busy,
            risk_loader=risk_loader(client),
            pnl_interval=settings.pnl_event_interval_seconds,
        )
        self.on_job = on_job
        self.housekeeping = Housekeeping(
            self.engine,
            client=client,
            broker=broker,
            store=self.store,
            consumer=self.consumer,
            executor=self.executor,
            leases=self.leases,
            submit=self.submit,
            redeliver=self.redeliver,
            drain_orders=self.drain_orders,
            risk_refresh_seconds=float(settings.atr_cache_ttl),
            reconcile_seconds=float(settings.worker_reconcile_seconds),
            interval=housekeeping_interval,
        )
        self.portfolio = PortfolioGuard(
            self.engine,
            client=client,
            broker=broker,
            executor=self.executor,
            submit=self.submit,
            today=self.housekeeping.today,
            limits=limits_from(settings),
            check_seconds=float(settings.portfolio_check_seconds),
        )
        self.housekeeping.portfolio = self.portfolio
        self.dispatch = Dispatcher(self.engine, self.housekeeping, self.submit)
        self.summary: ReconcileSummary | None = None
        self.stopping = False

    # --- start --------------------------------------------------------------------------------
    def start(
        self, *, scan_timeout: float = 30.0, stop: threading.Event | None = None
    ) -> ReconcileSummary:
        """Groups, persisted state (with the ledger of applied order updates), session; the
        exits sent just before a crash (found by client id); the order updates waiting in the
        stream; then one read of the broker: what it did since the book last caught up (applied
        as the updates it should have sent) and its positions and open orders (the startup
        scan, placing what is missing and waiting for it); then the other messages this consumer
        left unacked. A broker answering 429/5xx is asked again with backoff until it answers
        (or `stop` is set: `StartAbandonedError`)."""
        self.consumer.ensure_groups()
        self.store.refresh_clock()
        self.engine.load(self.store.load_all())
        self.engine.applied.load(decode_entries(self.store.load_applied()))
        self.housekeeping.load_session()
        self.portfolio.load()
        changes = Changes()
        self._until_answered(
            lambda: recover_inflight(self.engine, self.broker, changes), "in-flight exits", stop
        )
        self.store.commit(changes)
        backlog = self.apply_order_backlog()
        refs = references(self.engine)
        cursor = self.store.catch_up_cursor()
        view = self._until_answered(
            lambda: read_broker(self.broker, cursor, refs), "the startup read", stop
        )
        self.store.clock.observe_answer(view.read_at)
        self.store.record_clock()  # every process counts dates from it (sensors, jobs)
        symbols = {p.symbol for p in view.positions} | set(self.engine.held)
        self.engine.risk.update(load_risk_params(self.client, symbols))
        self.leases.maintain(symbols)
        changes = Changes()
        jobs, summary = reconcile_with_broker(self.engine, view, changes)
        self.store.commit(changes)
        if summary.stops_to_place:
            rate = self.settings.alpaca_rate_limit_per_minute
            log_kv(log, logging.INFO, "protecting, most urgent first",
                   unprotected=len(summary.stops_to_place), requests=summary.requests,
                   first=jobs[0].symbol if jobs else None, per_minute=rate,
                   eta_seconds=round(protection_eta_seconds(summary.requests, rate)))  # fmt: skip
        for job in jobs:
            self.submit(job)
        self.wait_idle(scan_timeout)
        self.summary = summary
        log_kv(
            log,
            logging.INFO,
            "startup scan complete",
            positions=summary.positions,
            already_protected=summary.protected,
            stops_placed=len(summary.stops_to_place),
            stops_resized=len(summary.stops_to_resize),
            duplicates_cancelled=len(summary.duplicates_to_cancel),
            orphans_cancelled=len(summary.orphans_to_cancel),
            order_updates_waiting=backlog,
            caught_up_from=view.since.isoformat() if view.since else None,
        )
        pending = self.consumer.read_own_pending()
        if pending:
            self.redeliver(pending)
        # Stops placed from the fallback before this start (or just now) whose ATR is known now.
        self.housekeeping.replan_fallback_stops("start")
        self.housekeeping.tick(force=True)
        return summary

    def _until_answered(
        self, operation: Callable[[], T], what: str, stop: threading.Event | None
    ) -> T:
        first, longest = self.startup_backoff
        return call_until_answered(
            operation,
            what=what,
            wait=stop.wait if stop is not None else None,
            first_wait=first,
            max_wait=longest,
        )

    def apply_order_backlog(self, max_batches: int = 100) -> int:
        """Apply the order updates waiting for this consumer (its own pending ones, then the
        unread) before the broker is read, so a position that closed while the worker was down
        is closed by its fill, at its price, not found missing by the scan. Their order jobs
        are dropped: the startup scan decides from the broker's positions and open orders.
        Returns how many messages were applied."""
        scan = Dispatcher(self.engine, self.housekeeping, lambda job: False)
        pending = self.consumer.read_own_pending([events.ORDERS_STREAM])
        if pending:
            self.handle(pending, redelivered=True, dispatch=scan)
        count = len(pending)
        for _ in range(max_batches):
            batch = self.consumer.read(0, [events.ORDERS_STREAM])
            if not batch:
                break
            self.handle(batch, dispatch=scan)
            count += len(batch)
        return count

    def drain_orders(self) -> None:
        """Apply the order updates already in the stream (before a catch-up applies the rest)."""
        messages = self.consumer.read(0, [events.ORDERS_STREAM])
        if messages:
            self.handle(messages)

    # --- the loop -----------------------------------------------------------------------------
    def submit(self, job: Job | None) -> bool:
        if job is None:
            return False
        if self.on_job is not None:
            self.on_job(job)
        return self.executor.submit(job)

    def process_batch(self, block_ms: int | None = None) -> int:
        """One pass; returns how many messages were read."""
        changes = Changes()
        self._apply_completed(changes)
        for symbol in self.engine.retry.due():
            self.submit(self.engine.reevaluate_job(symbol, "retry"))
        self.store.commit(changes)
        if block_ms is None:
            block_ms = (
                20
                if self.executor.in_flight or self.engine.retry.next_due_in() is not None
                else None
            )
        messages = self.consumer.read(block_ms)
        if messages:
            self.handle(messages)
        self.housekeeping.tick()
        return len(messages)

    def redeliver(self, messages: list[Message]) -> None:
        """Messages read before (this consumer's own pending ones, or reclaimed from a dead
        consumer): those past the delivery limit are dead-lettered, the rest handled."""
        self.handle(messages, redelivered=True)

    def handle(
        self,
        messages: list[Message],
        *,
        redelivered: bool = False,
        dispatch: Dispatcher | None = None,
    ) -> None:
        changes = Changes()
        if redelivered:
            messages, poison = self.consumer.split_poison(messages)
            for message in poison:
                changes.dead(message[0], message[1], message[2], "delivery limit exceeded")
        (dispatch or self.dispatch).messages(messages, changes)
        self.store.commit(changes)

    def _apply_completed(self, changes: Changes) -> None:
        for result in self.executor.completed():
            self.submit(apply_outcome(self.engine, result, changes))
            self.dispatch.release_deferred(result.job.symbol, changes)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Apply order jobs until none is in flight (tests, start, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            changes = Changes()
            self._apply_completed(changes)
            self.store.commit(changes)
            if not self.executor.in_flight:
                return True
            if time.monotonic() > deadline:
                return False
            self.executor.wait_for_completion(max(0.0, deadline - time.monotonic()))

    def run(self, stop_event: threading.Event) -> None:
        """Loop until `stop_event` is set: the current batch is finished and acked first."""
        while not stop_event.is_set():
            try:
                self.process_batch()
            except redis.RedisError as exc:
                log_kv(log, logging.ERROR, "redis error in the loop", error=str(exc))
                self._redis_lost = True
                stop_event.wait(1.0)
                continue
            if self._redis_lost:
                self.redis_back()
        self.wait_idle(10.0)
        self.release_leases()  # before the heartbeat goes: an outside job may act at once
        self.housekeeping.tick(force=True, stopping=True)

    def redis_back(self) -> None:
        """Redis answers again after an outage: order updates published meanwhile were lost
        (the bridge or the simulator could not write them), so ask the broker."""
        self._redis_lost = False
        log_kv(log, logging.WARNING, "redis is back, catching up with the broker")
        self.housekeeping.request_reconcile(why="redis reconnect")

    def release_leases(self) -> None:
        try:
            self.leases.release_all()
        except redis.RedisError as exc:  # they expire on their own (STANDING_TTL_MS)
            log_kv(log, logging.WARNING, "lease release failed", error=str(exc))

    def close(self) -> None:
        self.executor.shutdown()
        self.release_leases()


def run_worker(
    settings: Settings,
    broker: Broker,
    redis_url: str,
    stop_event: threading.Event,
    *,
    consumer: ConsumerConfig | None = None,
) -> ReconcileSummary:
    """Start (startup scan), then loop until `stop_event`; returns the startup summary."""
    client = redis.Redis.from_url(redis_url)
    worker = Worker(settings, broker, client, consumer=consumer)
    try:
        try:
            summary = worker.start(stop=stop_event)
        except StartAbandonedError as exc:
            log_kv(log, logging.WARNING, "worker stopped before it started", reason=str(exc))
            return ReconcileSummary()
        tune_interpreter()
        log_kv(
            log,
            logging.INFO,
            "worker running",
            consumer=worker.consumer.config.consumer,
            started_at=datetime.now(UTC).isoformat(),
        )
        worker.run(stop_event)
        return summary
    finally:
        worker.close()
        client.close()


# The GIL switch interval for the worker's process (CPython's default is 5 ms). See below.
SWITCH_INTERVAL_S = 0.0005


def tune_interpreter(switch_interval: float | None = None) -> None:
    """Interpreter settings for the worker's latency, applied once after the startup scan.

    - The GIL switch interval: a thread that wants the GIL waits until the holder blocks on I/O
      or, at the latest, this long before it asks the holder to drop it. The worker's threads
      are the quote loop and the order threads (which hold the GIL for ~1 ms at a time while
      alpaca-py builds a request or parses a response); with CPython's 5 ms default a quote, or
      an order job just handed over, can sit that long behind such a stretch. 0.5 ms bounds the
      wait; it costs nothing when only one thread is runnable (the throughput case).
    - `gc.freeze()`: everything alive after the start (modules, alpaca-py/pydantic machinery,
      the book) moves to the permanent generation, so the occasional full collection scans only
      what was allocated since; without it one full collection paused the process for 60-90 ms.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S if switch_interval is None else switch_interval)
    gc.collect()
    gc.freeze()
