"""Average True Range in polars, for every symbol at once: the seed's SMA and Wilder's smoothing.

True range needs the previous close, so the first bar has none and ATR(period) needs period + 1
bars. A bar flagged by the OHLC rules breaks the run: ATR restarts after it and stays null (with a
reason) until period + 1 clean bars have passed — a wrong ATR never looks like a right one. Null ATR
is expected downstream: the rules then apply the fixed fallback stop.

SMA: mean of the last `period` true ranges (the seed's `rolling(period).mean()`). Wilder: seeded
with that SMA at the first possible bar, then ATR_t = (ATR_{t-1} x (period - 1) + TR_t) / period.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from pipelines.ohlc import flag_bars

AtrMethodName = Literal["sma", "wilder"]

SERIES_SCHEMA: dict[str, type[pl.DataType] | pl.DataType] = {
    "symbol": pl.String,
    "date": pl.Date,
    "close": pl.Float64,
    "true_range": pl.Float64,
    "atr": pl.Float64,
    "atr_pct": pl.Float64,
    "reason": pl.String,
}


def atr_series(bars: pl.DataFrame, period: int = 14, method: str = "sma") -> pl.DataFrame:
    """ATR for every (symbol, date) of `bars`.

    `bars` needs columns symbol, date, high, low, close (open too, when it should be checked);
    an optional `quality_issue` column marks bars already known to be bad. Returns one row per
    input bar with columns of `SERIES_SCHEMA`; `atr` is null exactly when `reason` is not.
    """
    if period < 1:
        raise ValueError(f"ATR period must be at least 1, got {period}")
    if method not in ("sma", "wilder"):
        raise ValueError(f"ATR method must be 'sma' or 'wilder', got {method!r}")
    if bars.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)
    frame = bars
    if "open" not in frame.columns:
        frame = frame.with_columns(pl.col("close").alias("open"))
    frame = (
        flag_bars(
            frame.with_columns(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close"))
        )
        .sort("symbol", "date")
        .with_columns(bad=pl.col("quality_issue").is_not_null())
        # A run of clean bars: a flagged bar starts a new run (and is itself excluded).
        .with_columns(run=pl.col("bad").cast(pl.Int32).cum_sum().over("symbol"))
    )
    keys = ["symbol", "run", "bad"]
    prev_close = pl.col("close").shift(1).over(keys)
    true_range = pl.max_horizontal(
        pl.col("high") - pl.col("low"),
        (pl.col("high") - prev_close).abs(),
        (pl.col("low") - prev_close).abs(),
    )
    frame = frame.with_columns(
        true_range=pl.when(prev_close.is_null() | pl.col("bad")).then(None).otherwise(true_range),
        bars_in_run=pl.int_range(1, pl.len() + 1).over(keys),
    )
    sma = pl.col("true_range").rolling_mean(window_size=period).over(keys)
    if method == "sma":
        atr = sma
    else:
        seeded = (
            pl.when(pl.col("bars_in_run") == period + 1)
            .then(sma)
            .when(pl.col("bars_in_run") > period + 1)
            .then(pl.col("true_range"))
            .otherwise(None)
        )
        frame = frame.with_columns(seeded=seeded)
        atr = (
            pl.col("seeded")
            .ewm_mean(alpha=1.0 / period, adjust=False, ignore_nulls=True, min_samples=1)
            .over(keys)
        )
        atr = pl.when(pl.col("seeded").is_null()).then(None).otherwise(atr)
    needed = period + 1
    reason = (
        pl.when(pl.col("bad"))
        .then(pl.format("bar rejected: {}", pl.col("quality_issue")))
        .when(pl.col("bars_in_run") < needed)
        .then(
            pl.format(
                "needs {} consecutive clean bars, has {}{}",
                pl.lit(needed),
                pl.col("bars_in_run"),
                pl.when(pl.col("run") > 0)
                .then(pl.lit(" since a rejected bar"))
                .otherwise(pl.lit("")),
            )
        )
        .otherwise(None)
    )
    return (
        frame.with_columns(atr=atr, reason=reason)
        .with_columns(
            atr=pl.when(pl.col("reason").is_null()).then(pl.col("atr")).otherwise(None),
        )
        .with_columns(atr_pct=pl.col("atr") / pl.col("close"))
        .select(list(SERIES_SCHEMA))
        .cast(SERIES_SCHEMA)  # type: ignore[arg-type]
    )


def latest_atr(series: pl.DataFrame) -> pl.DataFrame:
    """The last row per symbol of an `atr_series` result: the ATR a stop is sized with today."""
    return series.sort("symbol", "date").group_by("symbol", maintain_order=True).last()
