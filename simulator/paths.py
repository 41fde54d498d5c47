"""Intraday price paths for the simulated market: pure functions of a seed, a symbol and a day.

A day starts from the previous daily close (the bars the ATR was computed from), drifts through
the pre-market to the day's open, walks the regular session as a Brownian bridge in log price
through optional "news" waypoints to the close, and wanders a little after hours. The regular
session's high, low, open and close become that day's daily bar (`DayPath.bar`), which the
simulator serves once the day has closed: the quotes a worker saw and the bars the next ATR is
computed from are the same prices.

The volatility is measured from the daily bars themselves (the standard deviation of the last
closes' log returns), so a quiet large-cap moves like one and a micro-cap like a micro-cap.
Seeding is by string (`random.Random("seed:symbol:day")`), the same on every machine and run.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from position_manager.market_calendar import MarketDay
from rules.ticks import round_to_tick

PRE_MINUTES = 330  # 04:00 -> 09:30 New York
POST_MINUTES = 240  # 16:00 -> 20:00
DEFAULT_VOLATILITY = 0.02  # daily, for a symbol without bars
MIN_VOLATILITY = 0.002


@dataclass(frozen=True, slots=True)
class Move:
    """News: the price reaches `previous close x (1 + change)` at `minute` after the open."""

    change: float
    minute: int


# The first simulated day of `up` on the demo book: a rally that takes profit, a slide through a
# stop, a steady riser and a falling short that trail. Relative to the previous close, so the
# story holds whatever the price level of the bars; later days are quiet random walks.
DEMO_STORY: Mapping[str, tuple[Move, ...]] = {
    "NVDA": (Move(0.10, 30), Move(0.27, 75)),
    "AAPL": (Move(0.03, 60), Move(0.07, 240)),
    "XOM": (Move(-0.03, 90), Move(-0.06, 300)),
    "SNDL": (Move(-0.08, 45), Move(-0.30, 200)),
}


@dataclass(frozen=True, slots=True)
class DailyBar:
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int


@dataclass(frozen=True, slots=True)
class DayPath:
    """One symbol's prices for one day, one per simulated minute."""

    symbol: str
    day: MarketDay
    pre: tuple[Decimal, ...]
    regular: tuple[Decimal, ...]
    post: tuple[Decimal, ...]
    volume: int = 1_000_000

    def price_at(self, ts: datetime) -> Decimal | None:
        """The price at `ts` (UTC), None outside the pre-market..after-hours window."""
        if ts < self.day.open:
            back = math.ceil((self.day.open - ts).total_seconds() / 60)
            return self.pre[-back] if 0 < back <= len(self.pre) else None
        if ts < self.day.close:
            return self.regular[int((ts - self.day.open).total_seconds() // 60)]
        after = int((ts - self.day.close).total_seconds() // 60)
        end = int((self.day.post_close - self.day.close).total_seconds() // 60)
        return self.post[after] if after < min(end, len(self.post)) else None

    def bar(self) -> DailyBar:
        """The regular session as a daily bar (what Alpaca's 1Day bar of the day would be)."""
        prices = [float(p) for p in self.regular]
        return DailyBar(self.day.date, prices[0], max(prices), min(prices), prices[-1], self.volume)


def volatility_from_closes(closes: Sequence[float]) -> float:
    """Daily volatility (stdev of log returns) of `closes`; a default when there are too few."""
    returns = [math.log(b / a) for a, b in itertools.pairwise(closes) if a > 0 < b]
    if len(returns) < 2:
        return DEFAULT_VOLATILITY
    return max(statistics.stdev(returns), MIN_VOLATILITY)


def _bridge(rng: random.Random, start: float, end: float, steps: int, sigma: float) -> list[float]:
    """`steps` + 1 log prices from `start` to `end`: a random walk pinned at both ends."""
    if steps <= 0:
        return [end]
    walk = [0.0]
    for _ in range(steps):
        walk.append(walk[-1] + rng.gauss(0.0, sigma))
    return [start + w - (walk[-1] - (end - start)) * i / steps for i, w in enumerate(walk)]


def day_path(
    symbol: str,
    day: MarketDay,
    previous_close: float,
    volatility: float,
    *,
    seed: int = 0,
    moves: Sequence[Move] = (),
) -> DayPath:
    """The day's prices for `symbol`: deterministic in (seed, symbol, day)."""
    rng = random.Random(f"{seed}:{symbol}:{day.date.isoformat()}")
    minutes = int((day.close - day.open).total_seconds() // 60)
    per_minute = volatility / math.sqrt(390)
    base = math.log(previous_close)
    log_open = base + rng.gauss(0.0, volatility / 3)
    waypoints = [(0, log_open)]
    for move in sorted(moves, key=lambda m: m.minute):
        if 0 < move.minute < minutes - 1:
            waypoints.append((move.minute, base + math.log1p(move.change)))
    last_level = waypoints[-1][1]
    waypoints.append((minutes - 1, last_level + rng.gauss(0.0003, volatility / 2)))
    regular: list[float] = [log_open]
    for (m0, p0), (m1, p1) in itertools.pairwise(waypoints):
        regular += _bridge(rng, p0, p1, m1 - m0, per_minute)[1:]
    pre = _bridge(rng, base, log_open, PRE_MINUTES, per_minute / 2)[1:]
    post = [regular[-1]]
    for _ in range(POST_MINUTES - 1):
        post.append(post[-1] + rng.gauss(0.0, per_minute / 3))
    volume = int(1_000_000 * (1 + rng.random()) * (5 if previous_close < 5 else 1))
    return DayPath(symbol, day, _prices(pre), _prices(regular), _prices(post), volume)


def tick_price(value: float) -> Decimal:
    """A simulated float price as a quote carries it: six places, then on the tick."""
    return round_to_tick(Decimal(str(round(value, 6))))


def _prices(logs: Sequence[float]) -> tuple[Decimal, ...]:
    return tuple(tick_price(math.exp(x)) for x in logs)


def bar_path(
    symbol: str, day: MarketDay, bar: DailyBar, *, seed: int = 0, step_minutes: int = 5
) -> list[tuple[datetime, Decimal]]:
    """A deterministic regular session through one daily bar: every `step_minutes` from the
    open, starting at its open, touching its low and its high (low first on an up day, high
    first on a down day, each at a seeded minute) and ending at its close, walking between them
    as Brownian bridges clamped to the bar's range. What a replay plays when the broker has no
    minute bars for the day: the bar's extremes are reached, so a stop inside its range fills.
    """
    if step_minutes < 1:
        raise ValueError("step_minutes must be at least 1")
    steps = max(3, int((day.close - day.open).total_seconds() // 60) // step_minutes)
    rng = random.Random(f"{seed}:{symbol}:{day.date.isoformat()}:bar")
    low, high = min(bar.low, bar.open, bar.close), max(bar.high, bar.open, bar.close)
    first_at = rng.randrange(1, max(2, steps // 2))
    second_at = rng.randrange(first_at + 1, steps) if first_at + 1 < steps else steps - 1
    first, second = (low, high) if bar.close >= bar.open else (high, low)
    waypoints = [(0, bar.open), (first_at, first), (second_at, second), (steps, bar.close)]
    sigma = max(math.log(high / low), 1e-6) / math.sqrt(steps) if low > 0 else 1e-6
    logs: list[float] = [math.log(bar.open)]
    for (m0, p0), (m1, p1) in itertools.pairwise(waypoints):
        logs += _bridge(rng, math.log(p0), math.log(p1), m1 - m0, sigma)[1:]
    prices = [min(max(math.exp(x), low), high) for x in logs]
    prices[first_at], prices[second_at], prices[-1] = first, second, bar.close
    step = timedelta(minutes=step_minutes)
    out = []
    for i, price in enumerate(prices):
        at = day.open + step * i
        if at >= day.close:
            at = day.close - timedelta(minutes=1)  # the close prints in the session's last minute
        out.append((at, tick_price(price)))
    return out
