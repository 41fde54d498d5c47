"""The simulator as one object: engine, clock, faults, rate limit, events, snapshot, quote feed.

The HTTP app (`simulator.app`) is a thin shell over this; tests and demos may also call
it directly (`feed_quote`, `set_clock`, `seed_positions`, `set_faults`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import redis

from position_manager import events
from position_manager.logging import log_kv
from position_manager.moving_window import MovingWindow
from position_manager.sample_data import SAMPLE_BOOK
from position_manager.session import Session
from position_manager.trade_updates import order_event
from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.engine import Engine
from simulator.faults import FaultConfig, Faults
from simulator.latest_trades import LatestTrades
from simulator.minute_bars import PlayedMinutes
from simulator.paths import DailyBar
from simulator.quote_feed import QuoteConsumer
from simulator.snapshot import book_to_json, load_snapshot, write_atomic
from simulator.updates import TradeUpdate

log = logging.getLogger(__name__)

# The most authenticated requests one key sent in any rolling window (`rate_window_seconds`).
PEAK_STAT = "peak_requests_per_window"


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = cfg = config or SimulatorConfig()
        self.clock = SimClock(cfg.clock_start, cfg.clock_speed)
        self.faults = Faults(cfg.faults if cfg.faults is not None else FaultConfig.from_env())
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._limiters: dict[str, MovingWindow] = {}
        # Every authenticated request per key, refused or not: the peak of this log is what a
        # client's own limiter is judged by (stats "peak_requests_per_window").
        self._arrivals: dict[str, MovingWindow] = {}
        self._redis = redis.Redis.from_url(cfg.redis_url) if cfg.redis_url else None
        self.latest_trades = LatestTrades()  # the data feed's prints (trades/latest)
        # Daily bars of the days the simulated market played (simulator.market): served instead
        # of the sample walk, so the bars match the quotes. In memory: a restart forgets them.
        self.played_bars: dict[tuple[str, date], DailyBar] = {}
        # ... and its minutes, served as 1Min bars (simulator.minute_bars): what a replay reads.
        self.played_minutes = PlayedMinutes()
        book = load_snapshot(cfg.snapshot_path) if cfg.snapshot_path else None
        if book is not None:
            log_kv(log, logging.INFO, "simulator resumed from snapshot", orders=len(book.orders))
        self.engine = Engine(
            self.clock,
            cfg.engine_config(),
            book,
            on_update=self._publish,
            on_change=self._mark_dirty,
        )
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self._quotes: QuoteConsumer | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start_background(self) -> None:
        if self.config.snapshot_path is not None:
            self._writer = threading.Thread(
                target=self._write_loop, name="sim-snapshot", daemon=True
            )
            self._writer.start()
        if self.config.consume_quotes and self.config.redis_url:
            self._quotes = QuoteConsumer(self.config.redis_url, self, self.config.quote_group)
            self._quotes.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._quotes is not None:
            self._quotes.stop()
        if self._writer is not None:
            self._writer.join(timeout=5)
        self.save_snapshot()
        if self._redis is not None:
            self._redis.close()

    def _mark_dirty(self) -> None:
        self._dirty.set()

    def _write_loop(self) -> None:
        while not self._stopping.is_set():
            if self._dirty.wait(timeout=0.5) and not self._stopping.is_set():
                self._stopping.wait(self.config.snapshot_interval)
                self.save_snapshot()

    def save_snapshot(self) -> None:
        path = self.config.snapshot_path
        if path is None:
            return
        with self.engine.lock:  # serialise under the lock, write outside it
            self._dirty.clear()
            text = book_to_json(self.engine.book)
        write_atomic(path, text)

    # --- events --------------------------------------------------------------------------------
    def _publish(self, update: TradeUpdate) -> None:
        mapped = order_event(update)
        if mapped is None or self._redis is None:
            return
        name, data = mapped
        try:
            events.publish(self._redis, name, data)
        except redis.RedisError as exc:
            log_kv(
                log,
                logging.WARNING,
                "simulator could not publish order event",
                event=name,
                symbol=data.get("symbol"),
                order_id=data.get("order_id"),
                error=type(exc).__name__,
            )

    # --- controls ------------------------------------------------------------------------------
    def limiter_for(self, api_key: str) -> MovingWindow:
        with self._stats_lock:
            limiter = self._limiters.get(api_key)
            if limiter is None:
                limiter = MovingWindow(self.config.rate_limit, self.config.rate_window_seconds)
                self._limiters[api_key] = limiter
            return limiter

    def note_arrival(self, api_key: str) -> None:
        """Log an authenticated request for `api_key` (before its budget is checked) and keep
        the peak number seen in any rolling `rate_window_seconds` window."""
        with self._stats_lock:
            arrivals = self._arrivals.get(api_key)
            if arrivals is None:
                arrivals = MovingWindow(self.config.rate_limit, self.config.rate_window_seconds)
                self._arrivals[api_key] = arrivals
            in_window = arrivals.record()
            if in_window > self.stats[PEAK_STAT]:
                self.stats[PEAK_STAT] = in_window

    def count(self, route: str) -> None:
        with self._stats_lock:
            self.stats["requests"] += 1
            self.stats[route] += 1

    def count_extra(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    @property
    def request_count(self) -> int:
        return self.stats["requests"]

    def reset_stats(self) -> None:
        """Counters and the arrival logs start over; the 429 budget does not (as at Alpaca, no
        control call hands out a fresh one)."""
        with self._stats_lock:
            self.stats.clear()
            self._arrivals.clear()

    def feed_quote(
        self,
        symbol: str,
        bid: Decimal | float | str,
        ask: Decimal | float | str,
        last: Decimal | float | str | None = None,
        ts: datetime | None = None,
    ) -> None:
        """A quote as the worker would see it; fills whatever it crosses. Its `last` is also
        the data feed's latest trade."""
        price = None if last is None else Decimal(str(last))
        self.engine.feed_quote(symbol.upper(), Decimal(str(bid)), Decimal(str(ask)), price, ts)
        if price is not None:
            self.latest_trades.record(symbol, price, ts or self.clock.now())

    def set_clock(self, at: datetime | None = None, speed: float | None = None) -> datetime:
        now = self.clock.set(at, speed)
        self.engine.tick()
        return now

    def advance_clock(self, seconds: float) -> datetime:
        now = self.clock.advance(seconds)
        self.engine.tick()
        return now

    def session(self) -> Session:
        return self.clock.session()

    def seed_positions(
        self,
        book: Iterable[tuple[str, Decimal, Decimal]] = SAMPLE_BOOK,
        marks: dict[str, Decimal] | None = None,
    ) -> None:
        self.engine.seed_positions(book, marks)

    def set_faults(self, **changes: Any) -> FaultConfig:
        return self.faults.configure(**changes)

    def clear_faults(self) -> None:
        self.faults.clear()
