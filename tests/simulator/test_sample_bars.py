"""The sample bars are on the demo book's price scale, so ATRs come from the right price level.

A free random walk had AAPL's bars closing at 234.89 against the book's 185 entry and BNGO's at
2.26 against 0.83: every ATR (and so every stop distance) was sized on another price level.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from position_manager.market_calendar import NEW_YORK, market_days
from position_manager.sample_data import SAMPLE_BOOK, SAMPLE_START, sample_daily_bars
from tests.support.simulator import demo_book_simulator, make_broker

TOLERANCE = Decimal("0.05")
BOOK_PRICE = {symbol: entry for symbol, _qty, entry in SAMPLE_BOOK}


def _within(close: Decimal, book: Decimal) -> bool:
    return abs(close / book - 1) <= TOLERANCE


def test_each_book_symbols_last_bar_from_the_simulator_is_near_its_book_price() -> None:
    """Through alpaca-py, as the pipeline reads them: the last closed session's bar."""
    with demo_book_simulator() as handle:
        broker = make_broker(handle)
        now = handle.simulator.clock.now()
        bars = broker.get_daily_bars(sorted(BOOK_PRICE), now - timedelta(days=30), now)
    assert set(bars) == set(BOOK_PRICE)
    last_closes = {symbol: series[-1].close for symbol, series in bars.items()}
    far = {s: (c, BOOK_PRICE[s]) for s, c in last_closes.items() if not _within(c, BOOK_PRICE[s])}
    assert far == {}, f"last close vs book price: {far}"


@pytest.mark.parametrize("as_of", [date(2025, 3, 3), date(2026, 12, 1), date(2031, 6, 2)])
def test_the_scale_holds_whatever_the_date(as_of: date) -> None:
    """The book's entry prices are fixed, so every close of the walk stays near them (not only
    today's): the demo opened on any day sizes its stops on the right level."""
    days = [d.date for d in market_days(SAMPLE_START, as_of)]
    for symbol, book in BOOK_PRICE.items():
        closes = [Decimal(str(bar[4])) for bar in sample_daily_bars(symbol, days)]
        assert len(closes) == len(days)
        worst = max(closes, key=lambda c: abs(c / book - 1))
        assert _within(worst, book), f"{symbol}: close {worst} vs book {book}"


def test_the_bars_still_move_like_their_symbol() -> None:
    """On scale, but not flat: daily ranges keep each symbol's volatility, so a micro-cap's ATR
    is a larger fraction of its price than a large cap's."""
    end = datetime(2026, 11, 30, tzinfo=UTC).astimezone(NEW_YORK).date()
    days = [d.date for d in market_days(end - timedelta(days=60), end)]

    def mean_range_pct(symbol: str) -> float:
        bars = sample_daily_bars(symbol, days)
        return sum((h - low) / c for _d, _o, h, low, c, _v in bars) / len(bars)

    assert 0.005 < mean_range_pct("AAPL") < mean_range_pct("NVDA") < mean_range_pct("BNGO")
