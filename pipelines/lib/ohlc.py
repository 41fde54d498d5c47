"""OHLC sanity rules, as one polars expression shared by the bar loader and the ATR maths.

A bar that breaks a rule is kept in the warehouse with its reason (so the trader can see it) but is
never used for ATR: one bad high would otherwise widen every stop for the next 14 days.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

PRICE_COLUMNS = ("open", "high", "low", "close")


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
