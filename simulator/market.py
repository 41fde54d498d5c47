"""A moving market for the embedded simulator: quotes for every held and watched symbol, on the
simulator's own clock, at a chosen speed.

`MarketDriver` sets the simulator's clock (ten minutes before an open, at `speed` simulated
seconds per real second) and, once per simulated minute while a session is on, feeds each
symbol's price from its `DayPath` to the simulator first (the broker sees the market as it
moves) and then to the Redis quote stream the worker reads. Pre-market, regular hours and
after-hours pass on that clock; half an hour into the closed night it jumps to ten minutes
before the next open, so a fast demo never idles through the night. Each played day's regular
session becomes its daily bar in the simulator (`Simulator.played_bars`), and the next day
starts from that close.

The driver only needs the simulator object and a Redis client: it is started by whoever runs
the simulator in-process (`position-manager up`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis

from position_manager import events, redis_schema
from position_manager.logging import log_kv
from position_manager.market_calendar import NEW_YORK, MarketDay, market_day, market_days
from position_manager.sample_data import sample_daily_bars
from rules.ticks import tick_size
from simulator.core import Simulator
from simulator.paths import DEMO_STORY, DayPath, Move, day_path, volatility_from_closes

log = logging.getLogger(__name__)

LEAD_MINUTES = 10  # a day starts this long before the open (pre-market)
NIGHT_MINUTES = 30  # closed time shown after the after-hours session before the jump
VOLATILITY_DAYS = 20


def first_start(now: datetime | None = None) -> datetime:
    """Ten minutes before the open of the most recent trading day that has opened by `now`
    (today's, on a trading day after 09:30 New York), so the bars up to yesterday exist."""
    moment = now or datetime.now(UTC)
    today = moment.astimezone(NEW_YORK).date()
    for back in range(0, 15):
        found = market_day(today - timedelta(days=back))
        if found is not None and found.open <= moment:
            return found.open - timedelta(minutes=LEAD_MINUTES)
    raise RuntimeError("no trading day in the last two weeks")


def resume_start(played_until: datetime | None, now: datetime | None = None) -> datetime:
    """Where a market starts: `first_start`, or, when an earlier market already played past
    it (the book, its orders and the history carry those times), the next pre-market after
    where it stopped, so the simulated clock never runs backwards across restarts."""
    first = first_start(now)
    if played_until is None or played_until < first:
        return first
    return next_start(played_until)


def played_until(client: redis.Redis) -> datetime | None:
    """The last simulated minute an earlier market played (None: never, or unreadable)."""
    raw = redis_schema.text_or_none(client.get(redis_schema.SIM_MARKET_CLOCK_KEY))
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def next_start(after: datetime) -> datetime:
    """Ten minutes before the first open strictly after `after`."""
    day = after.astimezone(NEW_YORK).date()
    for offset in range(0, 15):
        found = market_day(day + timedelta(days=offset))
        if found is not None and found.open - timedelta(minutes=LEAD_MINUTES) > after:
            return found.open - timedelta(minutes=LEAD_MINUTES)
    raise RuntimeError(f"no trading day within two weeks of {after.isoformat()}")


def quote_fields(symbol: str, price: Decimal, ts: datetime) -> dict[str, Any]:
    """A one-tick-wide quote around `price`, as the quote stream carries it."""
    tick = tick_size(price)
    return {
        "symbol": symbol,
        "bid": price - tick,
        "ask": price + tick,
        "last": price,
        "timestamp": ts.isoformat(),
    }


class MarketDriver:
    """Plays the market into one in-process simulator (see the module docstring)."""

    def __init__(
        self,
        simulator: Simulator,
        client: redis.Redis,
        *,
        speed: float = 60.0,
        seed: int = 0,
        watchlist: Iterable[str] = (),
        start: datetime | None = None,
        story: Mapping[str, tuple[Move, ...]] = DEMO_STORY,
        on_quote: Callable[[str, Decimal, datetime], None] | None = None,
        story_day: date | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("market speed must be positive")
        self.simulator = simulator
        self.client = client
        self.speed = speed
        self.seed = seed
        self.watchlist = tuple(s.upper() for s in watchlist)
        self.start_at = start
        self.story = story
        self.on_quote = on_quote
        self.quotes = 0
        self._paths: dict[tuple[str, date], DayPath] = {}
        self._first_day: date | None = story_day  # the day the story plays (start: its first)
        self._last_minute: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-market", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> MarketDriver:
        at = self.start_at or first_start()
        self._first_day = self._first_day or at.astimezone(NEW_YORK).date()
        self.simulator.set_clock(at=at, speed=self.speed)
        log_kv(log, logging.INFO, "market started", at=at.isoformat(), speed=self.speed,
               seed=self.seed)  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    # --- what it plays -------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Held symbols (the simulator's book, read each minute: a new position gets quotes)
        plus the watchlist."""
        with self.simulator.engine.lock:
            held = set(self.simulator.engine.book.positions)
        return sorted(held | set(self.watchlist))

    def path(self, symbol: str, day: MarketDay) -> DayPath:
        key = (symbol, day.date)
        found = self._paths.get(key)
        if found is None:
            previous, volatility = self._history(symbol, day.date)
            moves = self.story.get(symbol, ()) if day.date == self._first_day else ()
            found = day_path(symbol, day, previous, volatility, seed=self.seed, moves=moves)
            self._paths = {k: v for k, v in self._paths.items() if k[1] >= day.date}
            self._paths[key] = found
        return found

    def _history(self, symbol: str, day: date) -> tuple[float, float]:
        """(previous close, daily volatility) from the daily bars before `day`: the played
        bars where there are some, else the sample bars the simulator serves."""
        days = [d.date for d in market_days(day - timedelta(days=45), day - timedelta(days=1))]
        played = self.simulator.played_bars
        sample = {b[0]: b[4] for b in sample_daily_bars(symbol, days)}
        closes = []
        for d in days[-VOLATILITY_DAYS - 1 :]:
            bar = played.get((symbol, d))
            close = bar.close if bar is not None else sample.get(d)
            if close is not None:
                closes.append(close)
        if closes:
            return closes[-1], volatility_from_closes(closes)
        return float(self._fallback_price(symbol)), volatility_from_closes([])

    def _fallback_price(self, symbol: str) -> Decimal:
        """A symbol without bars starts at its last print, or the position's entry."""
        last = self.simulator.latest_trades.price(symbol)
        if last is not None:
            return last
        with self.simulator.engine.lock:
            held = self.simulator.engine.book.positions.get(symbol)
        return held.avg_entry_price if held is not None else Decimal("10")

    def prices(self, now: datetime, day: MarketDay) -> dict[str, Decimal]:
        """Each symbol's price at `now` on `day` (none outside the day's sessions)."""
        out = {}
        for symbol in self.symbols():
            price = self.path(symbol, day).price_at(now)
            if price is not None:
                out[symbol] = price
        return out

    # --- the loop ------------------------------------------------------------------------------
    def step(self, now: datetime) -> int:
        """Play the minute `now` falls in (once); returns how many quotes were sent."""
        minute = now.replace(second=0, microsecond=0)
        if minute == self._last_minute:
            return 0
        self._last_minute = minute
        self.client.set(redis_schema.SIM_MARKET_CLOCK_KEY, minute.isoformat())
        day = market_day(now.astimezone(NEW_YORK).date())
        if day is None or not day.pre_open <= now < day.post_close:
            if day is None or now >= day.post_close + timedelta(minutes=NIGHT_MINUTES):
                self._record_bars(now)
                self.simulator.set_clock(at=next_start(now))
            return 0
        sent = 0
        for symbol, price in self.prices(now, day).items():
            quote = quote_fields(symbol, price, now)
            self.simulator.feed_quote(symbol, quote["bid"], quote["ask"], price, now)
            self.simulator.played_minutes.record(symbol, minute, float(price))
            events.publish(self.client, events.QUOTE_UPDATED, quote)
            sent += 1
            if self.on_quote is not None:
                self.on_quote(symbol, price, now)
        self.quotes += sent
        if now >= day.close:
            self._record_bars(now)
        return sent

    def _record_bars(self, now: datetime) -> None:
        """The regular session of every day played and closed by `now` becomes its bar."""
        for (symbol, _day), path in list(self._paths.items()):
            if path.day.close <= now:
                self.simulator.played_bars.setdefault((symbol, path.day.date), path.bar())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                now = self.simulator.clock.now()
                self.step(now)
            except redis.RedisError as exc:
                log_kv(log, logging.WARNING, "market could not publish a quote", error=str(exc))
                self._stop.wait(1.0)
                continue
            except Exception:
                log.exception("market step failed")
                self._stop.wait(1.0)
                continue
            into_minute = now.second + now.microsecond / 1e6
            self._stop.wait(max(0.005, (60.0 - into_minute) / self.speed))
