"""Our ATR against TA-Lib's on a real series (GOOG's daily bars, 2012-2013; see fixtures/README.md).

TA-Lib's `ATR` is Wilder's smoothing seeded with the simple mean of the first `period` true ranges
(the bar before them gives the first previous close): the first value is at index `period`, which
is where ours starts too (period + 1 bars). Its SMA of `TRANGE` is our default method.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from pipelines.lib.atr import atr_series

SERIES = Path(__file__).parent / "fixtures" / "goog_daily_2012.csv"


def _bars() -> pl.DataFrame:
    return pl.read_csv(SERIES, try_parse_dates=True).with_columns(symbol=pl.lit("GOOG"))


@pytest.mark.parametrize("period", [14, 5, 20])
def test_wilder_atr_equals_talib_on_a_real_series(period: int) -> None:
    bars = _bars()
    expected = talib.ATR(
        bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), period
    )
    ours = atr_series(bars, period=period, method="wilder")["atr"].to_numpy()
    assert np.array_equal(np.isnan(ours), np.isnan(expected))
    assert int(np.isnan(ours).sum()) == period
    assert np.max(np.abs(ours - expected)[period:]) <= 1e-6


def test_sma_atr_equals_talibs_sma_of_true_range_on_a_real_series() -> None:
    bars = _bars()
    true_range = talib.TRANGE(
        bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy()
    )
    expected = talib.SMA(true_range, 14)
    ours = atr_series(bars, period=14, method="sma")
    assert np.nanmax(np.abs(ours["true_range"].to_numpy() - true_range)) <= 1e-9
    atr = ours["atr"].to_numpy()
    assert np.array_equal(np.isnan(atr), np.isnan(expected))
    assert np.max(np.abs(atr - expected)[14:]) <= 1e-6
