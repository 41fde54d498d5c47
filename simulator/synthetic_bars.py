"""Seeded daily bars for symbols outside the sample universe that a benchmark names.

`SimulatorConfig.bar_universe` lists them (`python -m simulator --bar-universe FILE`): each gets a
random walk seeded by its name, on every weekday from SAMPLE_START, so the same symbol and days
always give the same bars and a window's bars do not depend on how far back the caller asked
(the draws are per day, in day order). Everything else about the bars endpoint is unchanged:
paging, limits, sessions closed by the simulator's clock, absent symbols absent. numpy, not the
sample's per-day Python loop: 5,000 symbols cost the stand-in milliseconds, not seconds, so a
benchmark of the pipeline measures the pipeline.
"""

from __future__ import annotations

import zlib
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from position_manager.sample_data import SAMPLE_START

Bar = tuple[date, float, float, float, float, int]


@lru_cache(maxsize=8)
def _weekdays(last: date) -> dict[date, int]:
    """Every weekday from SAMPLE_START to `last`, by its index in the walk."""
    span = (SAMPLE_START + timedelta(days=n) for n in range((last - SAMPLE_START).days + 1))
    return {day: i for i, day in enumerate(d for d in span if d.weekday() < 5)}


def synthetic_daily_bars(symbol: str, days: list[date]) -> list[Bar]:
    """(date, open, high, low, close, volume) for each weekday in `days` (sorted ascending)."""
    if not days:
        return []
    index = _weekdays(max(days))
    wanted = [index[d] for d in days if d in index]
    if not wanted:
        return []
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    base, volatility = rng.random(2)
    base = float(np.exp(np.log(5.0) + base * np.log(100.0)))  # 5 to 500, log-uniform
    volatility = 0.01 + 0.03 * float(volatility)
    # One draw of six uniforms per day, in day order: a shorter walk is a prefix of a longer one.
    u = rng.random((len(index), 6))
    radius = np.sqrt(-2.0 * np.log1p(-u[:, 0]))  # Box-Muller: two normals from two uniforms
    shock, gap = radius * np.cos(2 * np.pi * u[:, 1]), radius * np.sin(2 * np.pi * u[:, 1])
    wick = np.sqrt(-2.0 * np.log1p(-u[:, 2])) * np.cos(2 * np.pi * u[:, 3])
    close = base * np.exp(np.cumsum(shock * volatility))
    previous = np.concatenate(([base], close[:-1]))
    open_ = previous * np.exp(gap * volatility / 3)
    spread = np.abs(wick) * volatility * previous
    high = np.maximum(open_, close) + spread * u[:, 4]
    low = np.maximum(np.minimum(open_, close) - spread * u[:, 5], 0.0001)
    volume = (1_000_000 * (1 + u[:, 4])).astype(np.int64)
    at = np.asarray(wanted)
    columns = [_ticks(a[at]) for a in (open_, high, low, close)]
    return list(zip(days_at(index, wanted), *columns, volume[at].tolist(), strict=True))


def days_at(index: dict[date, int], wanted: list[int]) -> list[date]:
    by_position = list(index)
    return [by_position[i] for i in wanted]


def _ticks(prices: np.ndarray) -> list[float]:
    """Rounded to the tick: cents at a dollar or more, four decimals below (the sample's rule)."""
    rounded = np.where(prices >= 1, np.round(prices, 2), np.round(prices, 4))
    values: list[float] = rounded.tolist()
    return values
