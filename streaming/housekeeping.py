"""The worker's periodic duties, run between batches (never inside the quote handling).

Heartbeat and health hash, alerts (large loss, unprotected, stale data, circuit open), refreshing
risk parameters (every ATR_CACHE_TTL, and at once on `risk.parameters_updated`; fallback stops
are then re-planned from the ATR), the daily pre-earnings check, reclaiming idle pending
messages, the session, and reconciling with the broker: on `command.reconcile`, after Redis
comes back, and by itself every `WORKER_RECONCILE_SECONDS`. A reconcile first catches up with
what the broker did that the streams did not say (`book.catchup`), then compares positions and
open orders; its broker reads run on the executor's threads, not the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import redis

from book.catchup import BrokerView, read_broker, reconcile_with_broker, references
from book.engine import Engine
from book.executor import Job, OrderExecutor
from book.health import AlertThrottle, heartbeat, stale_symbols, write_health
from book.lease import LeaseKeeper
from book.risk import load_risk_params
from book.session import read_session
from book.state import Changes, StateStore
from broker.interface import Broker
from position_manager import events, redis_schema
from position_manager.logging import log_kv
from position_manager.redis_schema import encode_health
from position_manager.session import Session
from rules.alerts import book_alerts
from streaming.consumer import Consumer, Message
from streaming.portfolio_guard import PortfolioGuard

log = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 15
EARNINGS_CHECK_SECONDS = 60.0
PROBE_SECONDS = 30.0


class Housekeeping:
    """The worker's duties between batches. It is given what it works on (the engine, Redis,
    the broker, the state store, the consumer, the executor and its leases) and two callbacks
    into its host: `submit` an order job, `redeliver` reclaimed messages for dispatch."""

    def __init__(
        self,
        engine: Engine,
        *,
        client: redis.Redis,
        broker: Broker,
        store: StateStore,
        consumer: Consumer,
        executor: OrderExecutor,
        leases: LeaseKeeper,
        submit: Callable[[Job | None], bool],
        redeliver: Callable[[list[Message]], None],
        drain_orders: Callable[[], None],
        risk_refresh_seconds: float,
        reconcile_seconds: float,
        interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.client = client
        self.broker = broker
        self.store = store
        self.consumer = consumer
        self.executor = executor
        self.leases = leases
        self.submit = submit
        self.redeliver = redeliver
        # Applies the order updates already in the stream, so a catch-up adds only what the
        # stream never carried.
        self.drain_orders = drain_orders
        self.interval = interval
        self.reconcile_seconds = reconcile_seconds
        self._last_reconcile = time.monotonic()
        self.alerts = AlertThrottle(300.0)
        # Portfolio limits and flatten (streaming.portfolio_guard), set by the worker.
        self.portfolio: PortfolioGuard | None = None
        # ATR_CACHE_TTL: how long risk parameters are reused before they are read again (the
        # pipeline publishes them daily at 06:30 New York; a new symbol is read on first use).
        self.risk_refresh_seconds = risk_refresh_seconds
        self.last_quote_at: datetime | None = None
        # Per held symbol, when its last quote arrived (our clock): what "stale" is judged by.
        self.quoted_at: dict[str, datetime] = {}
        self.started_at = datetime.now(UTC)
        self.watching_since = self.started_at  # the later of the start and the last open
        self._last_tick = -1e18
        self._last_risk = time.monotonic()
        self._risk_asked = False  # a `risk.parameters_updated` arrived: read them again now
        self._last_earnings = -1e18
        self._last_claim = time.monotonic()
        self._last_probe = -1e18
        self._alpaca_ok = True
        self._probe: Future[bool] | None = None
        self._reconcile: Future[BrokerView] | None = None
        self._reconcile_acks: list[tuple[str, Any]] = []
        self._reconcile_read_since = 0.0

    # --- session ------------------------------------------------------------------------------
    def load_session(self) -> None:
        self.engine.session = read_session(self.client)

    def set_session(self, session: Session, changes: Changes) -> None:
        if session is self.engine.session:
            return
        log_kv(log, logging.INFO, "market session changed", old=self.engine.session, new=session)
        if self.engine.session is Session.REGULAR:  # the regular session ended: its last marks
            self.engine.pnl_snapshot(changes, "session_end")
        self.engine.session = session
        if session is Session.REGULAR:
            self.watching_since = datetime.now(UTC)
        for symbol in list(self.engine.held):
            self.submit(self.engine.reevaluate_job(symbol, "session"))

    def today(self) -> date:
        """The session date at the broker's time: the earnings window counts New York trading
        days from it, not the host's date (a simulated clock, a host in another zone)."""
        return self.store.clock.today()

    def saw_quote(self, symbol: str) -> None:
        self.last_quote_at = self.quoted_at[symbol] = datetime.now(UTC)

    # --- reconcile ----------------------------------------------------------------------------
    def request_reconcile(
        self, ack: tuple[str, Any] | None = None, *, why: str = "command"
    ) -> None:
        """Read the broker on a background thread; the loop applies the answer (`ack`: the
        message that asked, acked then). One read at a time: a request during one joins it."""
        if ack is not None:
            self._reconcile_acks.append(ack)
        if self._reconcile is not None:
            return
        self._last_reconcile = time.monotonic()
        self._reconcile_read_since = self.engine.clock()
        broker = self.broker
        cursor = self.store.catch_up_cursor()
        refs = references(self.engine)
        since = cursor.caught_up_to
        log_kv(log, logging.INFO, "reconciling with the broker", why=why,
               caught_up_to=since.isoformat() if since else None)  # fmt: skip
        self._reconcile = self.executor.background(lambda: read_broker(broker, cursor, refs))

    @property
    def reconciling(self) -> bool:
        """A broker read for a reconcile is out (its answer is applied at the next tick)."""
        return self._reconcile is not None

    def _finish_reconcile(self, changes: Changes) -> None:
        future = self._reconcile
        if future is None or not future.done():
            return
        self._reconcile = None
        for stream, msg_id in self._reconcile_acks:
            changes.ack(stream, msg_id)
        self._reconcile_acks = []
        try:
            view = future.result()
        except Exception as exc:
            log_kv(log, logging.ERROR, "reconcile failed", error=str(exc))
            changes.emit(
                events.POSITION_ERROR,
                {
                    "symbol": None,
                    "error_type": type(exc).__name__,
                    "message": f"reconcile failed: {exc}",
                },
            )
            return
        self.drain_orders()
        jobs, _summary = reconcile_with_broker(
            self.engine, view, changes, read_since=self._reconcile_read_since
        )
        for job in jobs:
            self.submit(job)

    # --- the tick -----------------------------------------------------------------------------
    def tick(self, *, force: bool = False, stopping: bool = False) -> None:
        now = time.monotonic()
        changes = Changes()
        self._finish_reconcile(changes)
        if not force and now - self._last_tick < self.interval:
            self.store.commit(changes)
            return
        self._last_tick = now
        self.store.refresh_clock()
        self._maintain_leases(stopping)
        if not stopping and now - self._last_reconcile >= self.reconcile_seconds:
            self.request_reconcile(why="timer")
        if self._risk_asked or now - self._last_risk >= self.risk_refresh_seconds:
            self._last_risk = now
            self._risk_asked = False
            self.refresh_risk()
        if now - self._last_earnings >= EARNINGS_CHECK_SECONDS or force:
            self._last_earnings = now
            self.earnings_check(changes)
        if now - self._last_claim >= self.consumer.config.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = self.consumer.claim_idle()
            if claimed:
                self.redeliver(claimed)
        self._probe_broker(now)
        self._alerts(changes)
        if self.portfolio is not None and not stopping:
            self.portfolio.tick(changes)
        if stopping:  # the book's last marks go to the history before the worker goes
            self.engine.pnl_snapshot(changes, "shutdown")
        self.store.commit(changes)
        self._write_health(stopping)

    # --- risk parameters ----------------------------------------------------------------------
    def request_risk_refresh(self) -> None:
        """The pipeline published new risk parameters: read them at the next tick (many
        messages in one batch cost one read)."""
        self._risk_asked = True

    def refresh_risk(self) -> None:
        """Read the held symbols' risk parameters again (one pipelined round trip) and re-plan
        every fallback stop that now has an ATR (tightened, never loosened)."""
        self.engine.risk.update(load_risk_params(self.client, self.engine.held))
        self.replan_fallback_stops("risk")

    def replan_fallback_stops(self, cause: str) -> None:
        for symbol, held in list(self.engine.held.items()):
            if held.position.stop_basis == "fallback":
                self.submit(self.engine.replan_job(symbol, cause))

    def _maintain_leases(self, stopping: bool) -> None:
        """Keep the standing leases of every held symbol and of every symbol with an order job
        in flight; release the rest (one pipelined round trip, only when something is due)."""
        if stopping:
            return
        wanted = set(self.engine.held) | self.executor.busy_symbols
        try:
            self.leases.maintain(wanted)
        except redis.RedisError as exc:  # orders then verify with a round trip of their own
            log_kv(log, logging.ERROR, "lease renewal failed", error=str(exc))

    def earnings_check(self, changes: Changes) -> None:
        today = self.today()
        for symbol in list(self.engine.held):
            report = (
                self.engine.earnings_requested.get(symbol)
                or self.engine.risk_for(symbol).next_report_date
            )
            self.submit(self.engine.earnings_job(symbol, today, report, changes))

    def _probe_broker(self, now: float) -> None:
        if self._probe is not None and self._probe.done():
            try:
                self._alpaca_ok = bool(self._probe.result())
            except Exception:
                self._alpaca_ok = False
            self._probe = None
        if self._probe is None and now - self._last_probe >= PROBE_SECONDS:
            self._last_probe = now
            self._probe = self.executor.background(self.broker.is_connected)

    def _alerts(self, changes: Changes) -> None:
        positions = [h.position for h in self.engine.held.values()]
        prices = {p.symbol: p.last_price for p in positions if p.last_price is not None}
        last = (
            self.last_quote_at if positions and self.engine.session is not Session.CLOSED else None
        )
        for alert in book_alerts(positions, prices, last, datetime.now(UTC), self.engine.params):
            if alert.symbol is not None and self.engine.busy(alert.symbol):
                continue  # an order change for it is in flight
            if self.alerts.allow(alert.name, alert.symbol):
                changes.emit(alert.name, {"symbol": alert.symbol, "message": alert.message})
        state = getattr(self.broker, "breaker_state", None)
        if state == "open" and self.alerts.allow(events.ALERT_CIRCUIT_OPEN):
            changes.emit(
                events.ALERT_CIRCUIT_OPEN,
                {"symbol": None, "message": "broker circuit breaker is open: orders fail fast"},
            )

    def _write_health(self, stopping: bool) -> None:
        held = [h for h in self.engine.held.values()]
        stale = stale_symbols(
            self.engine.held,
            self.quoted_at,
            self.watching_since,
            datetime.now(UTC),
            self.engine.session,
            self.engine.params.stale_data_seconds,
        )
        total = Decimal(0)
        for h in held:
            p = h.position
            if p.last_price is not None:
                total += (p.last_price - p.entry_price) * p.quantity
        try:
            pipe = self.client.pipeline(transaction=False)
            if not stopping:
                heartbeat(pipe, HEARTBEAT_TTL_SECONDS)
            else:
                pipe.delete(redis_schema.WORKER_HEARTBEAT_KEY)
            write_health(
                pipe,
                encode_health(
                    positions_count=len(held),
                    active_stops=sum(1 for h in held if h.position.is_protected),
                    total_pnl=total,
                    last_update=self.last_quote_at,
                    market_session=self.engine.session.value,
                    active_management=not stopping,
                    redis_connected=True,
                    alpaca_connected=self._alpaca_ok,
                    status="stopped" if stopping else ("stale" if stale else "healthy"),
                    stale_symbols=tuple(stale),
                    started_at=self.started_at,
                ),
            )
            pipe.execute()
        except redis.RedisError as exc:
            log_kv(log, logging.ERROR, "health write failed", error=str(exc))
