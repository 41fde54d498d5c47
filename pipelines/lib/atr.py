"""Average True Range in polars, for every symbol at once: SMA and Wilder's smoothing.

True range needs the previous close, so the first bar has none and ATR(period) needs period + 1
bars. A bar flagged by the OHLC rules breaks the run: ATR restarts after it and stays null (with a
reason) until period + 1 clean bars have passed — a wrong ATR never looks like a right one. Null ATR
is expected downstream: the rules then apply the fixed fallback stop.

SMA: mean of the last `period` true ranges (pandas' `rolling(period).mean()`). Wilder: seeded
with that SMA at the first possible bar, then ATR_t = (ATR_{t-1} x (period - 1) + TR_t) / period.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from pipelines.lib.ohlc import flag_bars

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
    frame = bars.lazy()
    if "open" not in bars.columns:
        frame = frame.with_columns(pl.col("close").alias("open"))
    price_columns = ("open", "high", "low", "close")
    if not _sorted_by_symbol_date(bars):
        frame = frame.sort("symbol", "date")
    frame = flag_bars(frame.with_columns(pl.col(c).cast(pl.Float64) for c in price_columns))
    # A run: consecutive clean bars of one symbol. A flagged bar is a run of its own, so it starts
    # a new run and the bar after it starts another. Runs are contiguous in the sorted frame, so
    # shift/rolling over the whole column are right wherever the window stays inside one run —
    # and every row whose window would cross a run boundary is nulled below.
    bad = pl.col("quality_issue").is_not_null()
    starts_run = (
        (pl.col("symbol") != pl.col("symbol").shift(1)).fill_null(True) | bad | bad.shift(1)
    ).fill_null(True)
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    frame = frame.with_columns(
        bad=bad,
        run=starts_run.cast(pl.Int64).cum_sum(),
        run_start=pl.when(starts_run).then(row).otherwise(None).forward_fill(),
        row=row,
        after_rejected=pl.when(starts_run)
        .then((bad.shift(1) & (pl.col("symbol") == pl.col("symbol").shift(1))).fill_null(False))
        .otherwise(None)
        .forward_fill(),
    ).with_columns(bars_in_run=pl.col("row") - pl.col("run_start") + 1)
    prev_close = pl.col("close").shift(1)
    true_range = pl.max_horizontal(
        pl.col("high") - pl.col("low"),
        (pl.col("high") - prev_close).abs(),
        (pl.col("low") - prev_close).abs(),
    )
    frame = frame.with_columns(
        true_range=pl.when((pl.col("bars_in_run") == 1) | pl.col("bad"))
        .then(None)
        .otherwise(true_range)
    )
    needed = period + 1
    sma = pl.col("true_range").rolling_mean(window_size=period)
    if method == "sma":
        atr = sma
    else:
        seeded = (
            pl.when(pl.col("bars_in_run") == needed)
            .then(sma)
            .when(pl.col("bars_in_run") > needed)
            .then(pl.col("true_range"))
            .otherwise(None)
        )
        frame = frame.with_columns(seeded=seeded)
        atr = (
            pl.col("seeded")
            .ewm_mean(alpha=1.0 / period, adjust=False, ignore_nulls=True, min_samples=1)
            .over("run")
        )
    # Few distinct "not enough bars" reasons: look them up rather than format 1M strings.
    short_reasons = {
        n + (1000 if after else 0): f"needs {needed} consecutive clean bars, has {n}"
        + (" since a rejected bar" if after else "")
        for n in range(1, needed)
        for after in (False, True)
    }
    reason = (
        pl.when(pl.col("bad"))
        .then(pl.concat_str(pl.lit("bar rejected: "), pl.col("quality_issue")))
        .when(pl.col("bars_in_run") < needed)
        .then(
            (pl.col("bars_in_run") + pl.col("after_rejected").cast(pl.Int64) * 1000).replace_strict(
                short_reasons, default=None, return_dtype=pl.String
            )
        )
        .otherwise(None)
    )
    return (
        frame.with_columns(reason=reason)
        .with_columns(atr=pl.when(pl.col("reason").is_null()).then(atr).otherwise(None))
        .with_columns(atr_pct=pl.col("atr") / pl.col("close"))
        .select(list(SERIES_SCHEMA))
        .cast(SERIES_SCHEMA)  # type: ignore[arg-type]
        .collect()
    )


def _sorted_by_symbol_date(bars: pl.DataFrame) -> bool:
    """Cheap check that lets already-ordered input (the warehouse query's) skip the sort."""
    keys = bars.select(
        ok=(
            (pl.col("symbol") > pl.col("symbol").shift(1))
            | (
                (pl.col("symbol") == pl.col("symbol").shift(1))
                & (pl.col("date") > pl.col("date").shift(1))
            )
        )
        .fill_null(True)
        .all()
    )
    return bool(keys.item())


def latest_atr(series: pl.DataFrame) -> pl.DataFrame:
    """The last row per symbol of an `atr_series` result: the ATR a stop is sized with today."""
    if not _sorted_by_symbol_date(series):
        series = series.sort("symbol", "date")
    return series.filter(pl.col("symbol") != pl.col("symbol").shift(-1).fill_null(""))
