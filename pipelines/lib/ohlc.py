"""OHLC sanity rules, as one polars expression shared by the bar loader and the ATR maths.

A bar that breaks a rule is kept in the warehouse with its reason (so the trader can see it) but is
never used for ATR: one bad high would otherwise widen every stop for the next 14 days.
"""

from __future__ import annotations

from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

PRICE_COLUMNS = ("open", "high", "low", "close")
# The rules' names by code, in the order they are tried (`issue_codes`; 0 is a sane bar).
ISSUE_NAMES: Final = {
    1: "missing or NaN price",
    2: "non-positive price",
    3: "high below low",
    4: "open or close outside high-low range",
    5: "negative volume",
}


def ohlc_issue_expr() -> pl.Expr:
    """A string column naming the first rule a bar breaks, or null when the bar is sane.

    Rules, in order: a price is missing or NaN; a price is zero or negative; high below low; the
    open or close outside the high-low range; negative volume (when a volume column exists).
    """
    missing = pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in PRICE_COLUMNS])
    non_positive = pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_COLUMNS])
    inverted = pl.col("high") < pl.col("low")
    outside = (pl.max_horizontal("open", "close") > pl.col("high")) | (
        pl.min_horizontal("open", "close") < pl.col("low")
    )
    return (
        pl.when(missing)
        .then(pl.lit("missing or NaN price"))
        .when(non_positive)
        .then(pl.lit("non-positive price"))
        .when(inverted)
        .then(pl.lit("high below low"))
        .when(outside)
        .then(pl.lit("open or close outside high-low range"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def flag_bars(bars: FrameT) -> FrameT:
    """Add (or complete) `quality_issue`: an existing reason wins, otherwise the rules decide."""
    computed = ohlc_issue_expr()
    columns = bars.collect_schema().names()
    if "volume" in columns:
        computed = (
            pl.when(computed.is_null() & (pl.col("volume") < 0))
            .then(pl.lit("negative volume"))
            .otherwise(computed)
        )
    if "quality_issue" in columns:
        computed = pl.coalesce(pl.col("quality_issue"), computed)
    return bars.with_columns(computed.alias("quality_issue"))


def issue_codes(
    open_: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64] | npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """`ohlc_issue_expr` in numpy, as codes of `ISSUE_NAMES` (0: sane): what the ATR's single
    pass uses, with no string per bar (a missing price arrives as NaN).

    A sane bar has 0 < low <= open, close <= high (every comparison with NaN is false), so five
    comparisons find the bad bars; only those few are told apart, rule by rule."""
    sane = (low > 0) & (open_ >= low) & (close >= low) & (open_ <= high) & (close <= high)
    if volume is not None:
        sane &= ~np.asarray(volume < 0, dtype=np.bool_)
    codes = np.zeros(open_.shape[0], dtype=np.int64)
    bad = np.flatnonzero(~sane)
    if bad.size:
        o, h, lo, c = open_[bad], high[bad], low[bad], close[bad]
        rules = [
            np.isnan(o) | np.isnan(h) | np.isnan(lo) | np.isnan(c),
            (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0),
            h < lo,
            (np.maximum(o, c) > h) | (np.minimum(o, c) < lo),
            np.ones(bad.size, dtype=np.bool_),  # what is left: the volume
        ]
        codes[bad] = np.select(rules, list(range(1, len(rules) + 1)), 0)
    return codes
