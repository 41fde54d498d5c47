"""The real worker against an in-process simulator, one moment at a time.

A replayed minute lasts milliseconds, so nothing may depend on how fast it passes: the
simulator's clock is set to each moment (running slowly while the moment settles, so an order
job waiting for its replace to land sees it land), the moment's quotes go to the simulator (it
fills what they cross) and then to the quote stream, and the worker (`streaming.worker.Worker`, the
live class, engine and rules) is stepped until it has read everything and no order job is in
flight; then the clock moves one second on, so cancels and replaces the broker holds pending
land (they can still fill until then, as at Alpaca), and the worker settles again. Sessions are
published on the calendar at the moment's time, the broker clock the events are stamped with is
the moment, and the worker's housekeeping (earnings window, risk re-reads, portfolio limits)
runs at each session change, at each new risk publication and every `TICK_MINUTES` simulated
minutes, never on the host's timer. Same bars, same settings, same decisions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

import redis

from book.broker_clock import ClockReading, record_clock
from broker.factory import build_broker
from pipelines.lib.risk import RiskParameters
from pipelines.risk.risk_parameters import publish as publish_risk
from position_manager import events, redis_schema
from position_manager.broker_types import STOP_ORDER_TYPES
from position_manager.config import Settings
from position_manager.errors import PositionManagerError
from position_manager.market_calendar import session_at
from position_manager.session import Session
from simulator.market import quote_fields
from simulator.server import SimulatorHandle
from simulator.state import OPEN_STATUSES
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker

log = logging.getLogger(__name__)

TICK_MINUTES = 5
# While a moment settles the broker's clock runs this many times real time: a replace or a
# submission (0.05 s at the simulator) lands in 10 ms, and a minute lasts 12 s of real time
# before the clock would pass the next moment (it is then not moved back: `clock_to`).
SETTLE_SPEED = 5.0
LANDING_SECONDS = 1.0  # after a moment: pending cancels/replaces land (accept latency 0.05 s)
SETTLE_TIMEOUT_S = 60.0
# A stop waiting for the open (`accepted`) protects as much as one working: it triggers there.
RESTING = OPEN_STATUSES


class ReplayStuckError(PositionManagerError):
    """The worker did not settle after a replayed moment."""


@dataclass(slots=True)
class Mark:
    """The book at one replayed moment: equity, unrealized P&L and who had no stop."""

    at: datetime
    equity: Decimal
    unrealized: Decimal
    unprotected: tuple[str, ...]


class LockStep:
    def __init__(
        self, settings: Settings, sim: SimulatorHandle, client: redis.Redis, redis_url: str
    ) -> None:
        self.settings = settings
        self.sim = sim
        self.client = client
        self.redis_url = redis_url  # `client`'s: the worker's rate budget lives there
        self.worker: Worker | None = None
        self.session: Session | None = None
        self.now: datetime | None = None
        self._last_tick: datetime | None = None
        self.moments = 0

    # --- clock and session ---------------------------------------------------------------------
    def clock_to(self, at: datetime) -> None:
        """The broker's clock to `at` (never backwards), running at `SETTLE_SPEED` while the
        worker settles: an order job that waits for its replace to land needs time to pass."""
        at = max(at, self.sim.simulator.clock.now())
        self.sim.simulator.set_clock(at=at, speed=SETTLE_SPEED)  # lands whatever is due
        record_clock(
            self.client, ClockReading(broker=at, host=datetime.now(UTC), rate=SETTLE_SPEED)
        )
        if self.worker is not None:
            self.worker.store.refresh_clock()
        self.now = at

    def _session_changed(self, at: datetime) -> bool:
        session = session_at(at)
        if session is self.session:
            return False
        self.client.set(redis_schema.SESSION_KEY, session.value)
        events.publish(self.client, events.SESSION_CHANGED, {"session": session.value}, ts=at)
        self.session = session
        return True

    # --- start ---------------------------------------------------------------------------------
    def start(self, at: datetime, risk: list[RiskParameters] | None) -> Worker:
        """The worker's start at `at` (its startup scan places the stops), after `risk` is
        published (None: the parameters already in Redis)."""
        self.clock_to(at)
        self._session_changed(at)
        if risk is not None:
            publish_risk(self.client, risk, at)
        broker = build_broker(self.settings, base_url=self.sim.url, redis_url=self.redis_url)
        self.worker = Worker(
            self.settings,
            broker,
            self.client,
            consumer=ConsumerConfig(consumer="replay", block_ms=1),
            threads=4,
            housekeeping_interval=1e9,  # never on the host's timer: see `_tick`
        )
        self.worker.start(scan_timeout=SETTLE_TIMEOUT_S)
        self.settle()
        self._tick(at)
        return self.worker

    def begin_day(self, at: datetime, risk: list[RiskParameters] | None) -> None:
        """A day's pre-market: its session, and that morning's parameters (None: unchanged),
        read by the worker at once (as `risk.parameters_updated` makes the live worker do)."""
        self.clock_to(at)
        self._session_changed(at)
        if risk is not None:
            publish_risk(self.client, risk, at)
        self.settle()
        self._tick(at)

    # --- one moment ----------------------------------------------------------------------------
    def play(self, at: datetime, prices: Mapping[str, Decimal]) -> Mark:
        self.clock_to(at)
        if self._session_changed(at):
            self.settle()
            self._tick(at)
        for symbol, price in prices.items():
            quote = quote_fields(symbol, price, at)
            self.sim.simulator.feed_quote(symbol, quote["bid"], quote["ask"], price, at)
            events.publish(self.client, events.QUOTE_UPDATED, quote, ts=at)
        self.settle()
        if self._last_tick is None or at - self._last_tick >= timedelta(minutes=TICK_MINUTES):
            self._tick(at)
        mark = self.mark(at)
        self.clock_to(at + timedelta(seconds=LANDING_SECONDS))
        self.settle()
        self.moments += 1
        return mark

    def close_session(self, at: datetime) -> None:
        """The day's end: CLOSED published at `at` and the worker settled."""
        self.clock_to(at)
        if self._session_changed(at):
            self.settle()
            self._tick(at)

    def _tick(self, at: datetime) -> None:
        assert self.worker is not None
        self.worker.housekeeping.tick(force=True)
        self.settle()
        self._last_tick = at

    def settle(self) -> None:
        """Step the worker until two passes in a row read nothing with nothing in flight."""
        worker = self.worker
        if worker is None:
            return
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        quiet = 0
        while quiet < 2:
            read = worker.process_batch(block_ms=0)
            idle = worker.wait_idle(max(0.0, deadline - time.monotonic()))
            reconciling = worker.housekeeping.reconciling
            retry = worker.engine.retry.next_due_in()
            if read == 0 and idle and not reconciling and retry is None:
                quiet += 1
            else:
                quiet = 0
                if retry is not None and read == 0:
                    time.sleep(min(max(retry, 0.001), 1.0))  # a broker refusal's backoff
                elif reconciling and read == 0:
                    time.sleep(0.001)
                    worker.housekeeping.tick()  # applies a finished reconcile read
            if time.monotonic() > deadline:
                raise ReplayStuckError(
                    f"the worker did not settle within {SETTLE_TIMEOUT_S:.0f} s at "
                    f"{self.now.isoformat() if self.now else '?'}"
                )

    # --- what the book looks like --------------------------------------------------------------
    def mark(self, at: datetime) -> Mark:
        engine = self.sim.simulator.engine
        with engine.lock:
            book = engine.book
            equity = book.cash
            unrealized = Decimal(0)
            covered: dict[str, Decimal] = {}
            for order in book.orders.values():
                if order.type in STOP_ORDER_TYPES and order.status in RESTING:
                    covered[order.symbol] = covered.get(order.symbol, Decimal(0)) + order.remaining
            unprotected = []
            for symbol, position in book.positions.items():
                quote = book.quotes.get(symbol)
                price = (
                    (quote.last or (quote.bid + quote.ask) / 2)
                    if quote is not None
                    else position.avg_entry_price
                )
                equity += position.qty * price
                unrealized += (price - position.avg_entry_price) * position.qty
                # Whole shares: a fractional remainder cannot rest in a stop at Alpaca (the
                # worker raises alert.unprotected_position for it; it is not a stop missing).
                whole = abs(position.qty).to_integral_value(rounding=ROUND_FLOOR)
                if whole and covered.get(symbol, Decimal(0)) < whole:
                    unprotected.append(symbol)
        return Mark(at, equity, unrealized, tuple(sorted(unprotected)))

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.wait_idle(10.0)
            self.worker.close()
            self.worker = None
