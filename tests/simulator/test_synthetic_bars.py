"""A benchmark universe's seeded bars: deterministic, sane, a window independent of its length."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.lib.ohlc import flag_bars
from position_manager.market_calendar import market_days
from simulator.bars import daily_bars
from simulator.synthetic_bars import synthetic_daily_bars

DAYS = [d.date for d in market_days(date(2025, 9, 1), date(2025, 11, 28))]


def test_the_same_symbol_and_days_give_the_same_bars_whatever_the_window() -> None:
    whole = synthetic_daily_bars("ZQAA", DAYS)
    assert whole == synthetic_daily_bars("ZQAA", DAYS)
    assert synthetic_daily_bars("ZQAA", DAYS[:10]) == whole[:10]
    assert synthetic_daily_bars("ZQAB", DAYS) != whole


def test_every_synthetic_bar_passes_the_ohlc_rules() -> None:
    rows = [bar for i in range(200) for bar in synthetic_daily_bars(f"ZQ{i:03d}", DAYS)]
    frame = pl.DataFrame(
        rows, schema=["date", "open", "high", "low", "close", "volume"], orient="row"
    )
    assert frame.height == 200 * len(DAYS)
    assert flag_bars(frame)["quality_issue"].null_count() == frame.height


def test_only_the_named_symbols_get_synthetic_bars() -> None:
    assert daily_bars("ZQAA", DAYS) == []  # outside the sample universe: absent, as on Alpaca
    assert daily_bars("ZQAA", DAYS, synthetic=frozenset({"ZQAA"})) == synthetic_daily_bars(
        "ZQAA", DAYS
    )
