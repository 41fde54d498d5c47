"""ATR maths: hand-computed true ranges, an independent loop for both methods, and bad bars."""

from __future__ import annotations

import itertools
import math
import random
from datetime import date, timedelta

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.atr import atr_series, latest_atr
from pipelines.lib.ohlc import ISSUE_NAMES, flag_bars, issue_codes

D0 = date(2025, 3, 3)


def _frame(symbol: str, ohlc: list[tuple[float, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(ohlc),
            "date": [D0 + timedelta(days=i) for i in range(len(ohlc))],
            "open": [b[0] for b in ohlc],
            "high": [b[1] for b in ohlc],
            "low": [b[2] for b in ohlc],
            "close": [b[3] for b in ohlc],
        }
    )


# (open, high, low, close); true ranges worked out by hand in the comments.
HAND_BARS = [
    (10.0, 11.0, 9.0, 10.0),  # no previous close: no true range
    (10.5, 12.0, 10.0, 11.5),  # max(2.0, |12-10|=2, |10-10|=0) = 2.0
    (11.0, 11.2, 10.8, 11.0),  # max(0.4, |11.2-11.5|=0.3, |10.8-11.5|=0.7) = 0.7 (gap matters)
    (12.5, 13.0, 12.4, 12.8),  # max(0.6, |13-11|=2.0, |12.4-11|=1.4) = 2.0
    (12.0, 12.2, 11.0, 11.2),  # max(1.2, |12.2-12.8|=0.6, |11-12.8|=1.8) = 1.8
]
HAND_TR = [None, 2.0, 0.7, 2.0, 1.8]


def test_true_range_uses_the_previous_close_across_gaps() -> None:
    series = atr_series(_frame("X", HAND_BARS), period=3)
    true_ranges = series["true_range"].to_list()
    assert true_ranges[0] is None
    assert true_ranges[1:] == pytest.approx(HAND_TR[1:])


def test_sma_atr_is_the_mean_of_the_last_period_true_ranges() -> None:
    series = atr_series(_frame("X", HAND_BARS), period=3, method="sma")
    atr = series["atr"].to_list()
    assert atr[:3] == [None, None, None]
    assert atr[3] == pytest.approx((2.0 + 0.7 + 2.0) / 3)
    assert atr[4] == pytest.approx((0.7 + 2.0 + 1.8) / 3)
    assert series["atr_pct"][4] == pytest.approx(atr[4] / 11.2)


def test_wilder_atr_is_seeded_with_the_sma_then_smoothed() -> None:
    series = atr_series(_frame("X", HAND_BARS), period=3, method="wilder")
    seed = (2.0 + 0.7 + 2.0) / 3
    assert series["atr"][3] == pytest.approx(seed)
    assert series["atr"][4] == pytest.approx((seed * 2 + 1.8) / 3)


def test_fewer_than_period_plus_one_bars_gives_null_with_a_reason() -> None:
    series = atr_series(_frame("X", HAND_BARS[:3]), period=3)
    last = latest_atr(series).row(0, named=True)
    assert last["atr"] is None
    assert last["reason"] == "needs 4 consecutive clean bars, has 3"


@pytest.mark.parametrize(
    ("bad_bar", "issue"),
    [
        ((12.0, math.nan, 11.0, 11.5), "missing or NaN price"),
        ((12.0, 12.5, 0.0, 11.5), "non-positive price"),
        ((12.0, 11.0, 12.5, 11.5), "high below low"),
        ((-1.0, 12.5, 11.0, 11.5), "non-positive price"),
    ],
)
def test_a_bad_bar_is_never_used_and_atr_restarts_after_it(
    bad_bar: tuple[float, float, float, float], issue: str
) -> None:
    bars = [*HAND_BARS, bad_bar, *HAND_BARS[1:4]]
    series = atr_series(_frame("X", bars), period=3)
    rejected = series.row(5, named=True)
    assert rejected["atr"] is None and rejected["reason"] == f"bar rejected: {issue}"
    # Three clean bars after it are not enough for period 3: no silent ATR from a broken run.
    after = series.row(8, named=True)
    assert after["atr"] is None
    assert after["reason"] == "needs 4 consecutive clean bars, has 3 since a rejected bar"
    # Bars before the bad one keep their values.
    assert series["atr"][4] == pytest.approx((0.7 + 2.0 + 1.8) / 3)


def test_symbols_never_borrow_each_others_previous_close() -> None:
    both = pl.concat([_frame("A", HAND_BARS), _frame("B", HAND_BARS)])
    series = atr_series(both, period=3)
    assert series.filter(pl.col("symbol") == "B")["true_range"].to_list() == pytest.approx(HAND_TR)


# --- an independent implementation: plain Python loops -----------------------------------------


def _loop_atr(bars: list[tuple[float, float, float, float]], period: int, method: str) -> list:
    trs: list[float | None] = [None]
    for prev, cur in itertools.pairwise(bars):
        _, high, low, _ = cur
        prev_close = prev[3]
        trs.append(max(high - low, abs(high - prev_close), abs(low - prev_close)))
    out: list[float | None] = []
    wilder: float | None = None
    for i in range(len(bars)):
        if i < period:
            out.append(None)
            continue
        if method == "sma":
            window = [t for t in trs[i - period + 1 : i + 1] if t is not None]
            out.append(sum(window) / period)
        else:
            tr_i = trs[i]
            assert tr_i is not None
            if wilder is None:
                wilder = sum(t for t in trs[1 : period + 1] if t is not None) / period
            else:
                wilder = (wilder * (period - 1) + tr_i) / period
            out.append(wilder)
    return out


def _random_walk(seed: int, n: int) -> list[tuple[float, float, float, float]]:
    rng = random.Random(seed)
    price = 50.0
    bars = []
    for _ in range(n):
        open_ = price * math.exp(rng.gauss(0, 0.01))
        close = price * math.exp(rng.gauss(0, 0.03))
        high = max(open_, close) * (1 + rng.random() * 0.02)
        low = min(open_, close) * (1 - rng.random() * 0.02)
        bars.append((open_, high, low, close))
        price = close
    return bars


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    period=st.integers(1, 20),
    method=st.sampled_from(["sma", "wilder"]),
)
def test_atr_matches_an_independent_loop(seed: int, n: int, period: int, method: str) -> None:
    bars = _random_walk(seed, n)
    got = atr_series(_frame("X", bars), period=period, method=method)["atr"].to_list()
    expected = _loop_atr(bars, period, method)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx(
        [e for e in expected if e is not None], rel=1e-9
    )


def test_sma_matches_the_seeds_pandas_rolling_mean() -> None:
    bars = _random_walk(7, 40)
    df = pd.DataFrame(bars, columns=["open", "high", "low", "close"])
    df["prev_close"] = df["close"].shift(1)
    df["tr1"] = df["high"] - df["low"]
    df["tr2"] = (df["high"] - df["prev_close"]).abs()
    df["tr3"] = (df["low"] - df["prev_close"]).abs()
    df["true_range"] = df[["tr1", "tr2", "tr3"]].max(axis=1)
    seed_atr = df["true_range"].rolling(window=14).mean().iloc[-1]
    ours = latest_atr(atr_series(_frame("X", bars), period=14))["atr"][0]
    assert ours == pytest.approx(seed_atr, rel=1e-12)


def test_a_rejected_last_bar_of_one_symbol_does_not_mark_the_next_symbol() -> None:
    bad_last = [*HAND_BARS[:2], (12.0, 11.0, 12.5, 11.5)]
    both = pl.concat([_frame("A", bad_last), _frame("B", HAND_BARS[:2])])
    b_rows = atr_series(both, period=3).filter(pl.col("symbol") == "B")
    assert b_rows["reason"].to_list() == [
        "needs 4 consecutive clean bars, has 1",
        "needs 4 consecutive clean bars, has 2",
    ]


@pytest.mark.parametrize("method", ["sma", "wilder"])
def test_after_a_rejected_bar_atr_equals_a_fresh_start(method: str) -> None:
    before, after = _random_walk(1, 20), _random_walk(2, 30)
    bad = (10.0, math.nan, 9.0, 10.0)
    series = atr_series(_frame("X", [*before, bad, *after]), period=14, method=method)
    fresh = atr_series(_frame("X", after), period=14, method=method)
    assert series["atr"].to_list()[-10:] == pytest.approx(fresh["atr"].to_list()[-10:])


def test_unsorted_input_gives_the_same_answer() -> None:
    frame = pl.concat([_frame("B", HAND_BARS), _frame("A", HAND_BARS)]).reverse()
    series = atr_series(frame, period=3)
    assert series["symbol"].to_list() == ["A"] * 5 + ["B"] * 5
    assert series["atr"][4] == pytest.approx((0.7 + 2.0 + 1.8) / 3)


_PRICE = st.one_of(
    st.floats(-5, 200, allow_nan=False), st.just(math.nan), st.just(0.0), st.just(100.0)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(_PRICE, _PRICE, _PRICE, _PRICE, st.one_of(st.none(), st.integers(-5, 5))),
        min_size=1,
        max_size=30,
    )
)
def test_the_atr_pass_flags_bars_by_the_same_rules_as_the_bar_loader(
    rows: list[tuple[float, float, float, float, int | None]],
) -> None:
    """`issue_codes` (numpy, what the ATR uses) and `ohlc_issue_expr` (polars, what the daily
    bars store) name the same first broken rule for every bar."""
    frame = pl.DataFrame(rows, schema=["open", "high", "low", "close", "volume"], orient="row")
    expected = flag_bars(frame)["quality_issue"].to_list()
    o, h, low, c = (frame[name].to_numpy() for name in ("open", "high", "low", "close"))
    codes = issue_codes(o, h, low, c, frame["volume"].cast(pl.Float64).to_numpy())
    assert [ISSUE_NAMES.get(int(code)) for code in codes] == expected
