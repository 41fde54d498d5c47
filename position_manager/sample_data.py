"""The deterministic sample world of the embedded default: a universe, a book, and their prices.

The simulator serves bars generated from here, the pipeline's sample profile and earnings sources
read the same symbols, and the demo book opens these positions — so a newcomer with no keys sees
the same lineage (bars -> ATR -> risk parameters <- profiles, earnings) as a real account.
Everything is a pure function of the symbol and the date: the same on every machine.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class SampleSymbol:
    symbol: str
    name: str
    exchange: str
    market_cap: Decimal  # dollars
    base_price: Decimal  # the level every close stays within SAMPLE_BAND of
    daily_volatility: float  # stdev of daily log return
    earnings_offset_days: int  # next report this many days after the reference date


# Book symbols hover around their demo book entry price (SAMPLE_BOOK below), so an ATR computed
# from these bars is on the price level the stops are sized against.
SAMPLE_UNIVERSE: tuple[SampleSymbol, ...] = (
    SampleSymbol("AAPL", "Apple Inc", "NASDAQ", Decimal("3400000000000"), Decimal("185"), 0.015, 5),
    SampleSymbol(
        "MSFT", "Microsoft Corp", "NASDAQ", Decimal("3100000000000"), Decimal("405"), 0.014, 40
    ),
    SampleSymbol(
        "NVDA", "NVIDIA Corp", "NASDAQ", Decimal("3300000000000"), Decimal("118.50"), 0.030, 12
    ),
    SampleSymbol(
        "JPM", "JPMorgan Chase", "NYSE", Decimal("600000000000"), Decimal("210"), 0.013, 55
    ),
    SampleSymbol("XOM", "Exxon Mobil", "NYSE", Decimal("480000000000"), Decimal("113"), 0.014, 60),
    SampleSymbol("KO", "Coca-Cola Co", "NYSE", Decimal("270000000000"), Decimal("62"), 0.009, 70),
    SampleSymbol("SNDL", "SNDL Inc", "NASDAQ", Decimal("250000000"), Decimal("2.05"), 0.045, 20),
    SampleSymbol(
        "BNGO", "Bionano Genomics", "NASDAQ", Decimal("45000000"), Decimal("0.83"), 0.060, 3
    ),
    SampleSymbol(
        "WKHS", "Workhorse Group", "NASDAQ", Decimal("90000000"), Decimal("1.40"), 0.055, 30
    ),
    SampleSymbol(
        "CLOV", "Clover Health", "NASDAQ", Decimal("280000000"), Decimal("3.20"), 0.040, 45
    ),
)

SAMPLE_BY_SYMBOL: dict[str, SampleSymbol] = {s.symbol: s for s in SAMPLE_UNIVERSE}

# The demo book: (symbol, quantity, entry price). Negative quantity is a short.
SAMPLE_BOOK: tuple[tuple[str, Decimal, Decimal], ...] = (
    ("AAPL", Decimal("50"), Decimal("185.00")),
    ("MSFT", Decimal("20"), Decimal("405.00")),
    ("NVDA", Decimal("40"), Decimal("118.50")),
    ("XOM", Decimal("-30"), Decimal("113.00")),
    ("SNDL", Decimal("1500"), Decimal("2.05")),
    ("BNGO", Decimal("2500.5"), Decimal("0.83")),
)

SAMPLE_START = date(2025, 1, 2)
# Closes stay within this log-distance of the base price (4.1 %), and the walk pulls back toward
# it at this rate per day: the demo book's entry prices are fixed, so the bars must be on their
# scale whatever today's date is (a free random walk had AAPL at 234.89 against a 185 entry).
SAMPLE_BAND = 0.04
SAMPLE_MEAN_REVERSION = 0.85


def _rng(symbol: str) -> random.Random:
    return random.Random(zlib.crc32(symbol.encode()))


def sample_daily_bars(
    symbol: str, days: list[date]
) -> list[tuple[date, float, float, float, float, int]]:
    """(date, open, high, low, close, volume) for each trading day in `days` (sorted ascending).

    A seeded walk per symbol: the same symbol and days always give the same bars. The walk
    starts at SAMPLE_START, so a window's bars do not depend on how far back the caller asked.
    Each day's shock has the symbol's volatility; the log-distance from the base price reverts
    (SAMPLE_MEAN_REVERSION) and is squashed into +-SAMPLE_BAND, so every close is within about
    4 % of the base price while day-to-day ranges (and so the ATR) keep the symbol's volatility.
    """
    spec = SAMPLE_BY_SYMBOL.get(symbol)
    if spec is None:
        return []
    rng = _rng(symbol)
    base = float(spec.base_price)
    price = base
    deviation = 0.0
    out: list[tuple[date, float, float, float, float, int]] = []
    wanted = set(days)
    last = max(days) if days else SAMPLE_START
    day = SAMPLE_START
    while day <= last:
        if day.weekday() < 5:
            deviation = SAMPLE_MEAN_REVERSION * deviation + rng.gauss(0.0, spec.daily_volatility)
            open_ = price * math.exp(rng.gauss(0, spec.daily_volatility / 3))
            close = base * math.exp(SAMPLE_BAND * math.tanh(deviation / SAMPLE_BAND))
            spread = abs(rng.gauss(0, spec.daily_volatility)) * price
            high = max(open_, close) + spread * rng.random()
            low = max(min(open_, close) - spread * rng.random(), 0.0001)
            volume = int(1_000_000 * (1 + rng.random()) * (5 if price < 5 else 1))
            if day in wanted:
                out.append((day, _tick(open_), _tick(high), _tick(low), _tick(close), volume))
            price = close
        day += timedelta(days=1)
    return out


def _tick(price: float) -> float:
    return round(price, 2) if price >= 1 else round(price, 4)


def sample_next_report_date(symbol: str, reference: date) -> date | None:
    """A deterministic next earnings date, relative to `reference` (so the demo always has one
    report inside the pre-earnings window)."""
    spec = SAMPLE_BY_SYMBOL.get(symbol)
    return None if spec is None else reference + timedelta(days=spec.earnings_offset_days)
