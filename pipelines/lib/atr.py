"""Average True Range for every symbol at once: SMA and Wilder's smoothing.

True range needs the previous close, so the first bar has none and ATR(period) needs period + 1
bars. A bar flagged by the OHLC rules breaks the run: ATR restarts after it and stays null (with a
reason) until period + 1 clean bars have passed — a wrong ATR never looks like a right one. Null ATR
is expected downstream: the rules then apply the fixed fallback stop.

SMA: mean of the last `period` true ranges (pandas' `rolling(period).mean()`). Wilder (TA-Lib's
`ATR`): seeded with that SMA at the first possible bar, then ATR_t = (ATR_{t-1} x (period - 1) +
TR_t) / period.

One vectorized pass over the frame sorted by (symbol, date), in numpy: no per-symbol loop and no
group-by. A run (consecutive clean bars of one symbol) is contiguous in that order, so a window
is right wherever it stays inside one run, and every row whose window would cross a run boundary
is nulled by its `bars_in_run`. The rolling sum is a cumulative sum restarted every
`_BLOCK` rows (so its rounding stays that of a few thousand additions, not of the whole
column); Wilder's recursion is one exponential filter over the whole column with each run's
seed added back (see `_wilder`).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from pipelines.lib.ohlc import ISSUE_NAMES, issue_codes

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
PRICE_COLUMNS: Final = ("open", "high", "low", "close")
# Rows per restart of the cumulative sum behind the rolling mean: its rounding error grows with
# the sums it carries, so it never carries more than one block (a relative 1e-13, not 1e-10).
_BLOCK: Final = 8192
# Reason codes, dense (an index into `_reason_texts`): 0 none; 1..5 a rejected bar's OHLC rule;
# _SHORT + n - 1 for n bars, + (period) more when the run follows a rejected bar.
_SHORT: Final = len(ISSUE_NAMES) + 1

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


def atr_series(bars: pl.DataFrame, period: int = 14, method: str = "sma") -> pl.DataFrame:
    """ATR for every (symbol, date) of `bars`.

    `bars` needs columns symbol, date, high, low, close (open too, when it should be checked);
    an optional `quality_issue` column marks bars already known to be bad. Returns one row per
    input bar, sorted by (symbol, date), with columns of `SERIES_SCHEMA`; `atr` is null exactly
    when `reason` is not.
    """
    if period < 1:
        raise ValueError(f"ATR period must be at least 1, got {period}")
    if method not in ("sma", "wilder"):
        raise ValueError(f"ATR method must be 'sma' or 'wilder', got {method!r}")
    if bars.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)
    if "open" not in bars.columns:
        bars = bars.with_columns(pl.col("close").alias("open"))
    casts = [pl.col(c).cast(pl.Float64) for c in PRICE_COLUMNS if bars.schema[c] != pl.Float64]
    if casts:
        bars = bars.with_columns(casts)
    new_symbol = symbol_starts(bars)
    if new_symbol is None:
        bars = bars.sort("symbol", "date")
        new_symbol = _new_symbol(bars["symbol"])
    o, h, low, c = (bars[col].to_numpy() for col in PRICE_COLUMNS)
    volume = bars["volume"].to_numpy() if "volume" in bars.columns else None
    codes = issue_codes(o, h, low, c, volume)
    given = _given_issues(bars)
    bad = codes > 0 if given is None else (codes > 0) | given.is_not_null().to_numpy()

    n = bars.height
    after_bad = np.zeros(n, dtype=np.bool_)
    after_bad[1:] = bad[:-1]
    starts_run = new_symbol | bad | after_bad
    first_rows = np.flatnonzero(starts_run)
    run_start = np.repeat(first_rows, np.diff(first_rows, append=n))
    bars_in_run = np.arange(1, n + 1, dtype=np.int64)
    bars_in_run -= run_start

    # max(high, prev close) - min(low, prev close): the largest of high - low and the two gaps
    # to the previous close, to the bit (each case is one and the same subtraction) when
    # high >= low, which every bar that gets a true range satisfies.
    true_range = np.empty(n)
    true_range[0] = np.nan
    np.maximum(h[1:], c[:-1], out=true_range[1:])
    true_range[1:] -= np.minimum(low[1:], c[:-1])
    true_range[starts_run] = np.nan  # a run's first bar has no previous close in the run

    needed = period + 1
    valid = bars_in_run >= needed  # a bad bar is a run of one: never valid
    window_input = true_range.copy()
    window_input[starts_run] = 0.0
    sma = _rolling_mean(window_input, period)
    atr = sma if method == "sma" else _wilder(true_range, sma, bars_in_run, period)
    atr[~valid] = np.nan

    reason_codes = np.zeros(n, dtype=np.int64)
    short = np.flatnonzero(~valid)
    # After a rejected bar of the same symbol: the run's reasons say so.
    run_first = run_start[short]
    after_rejected = after_bad[run_first] & ~new_symbol[run_first]
    reason_codes[short] = np.where(
        bad[short], codes[short], _SHORT - 1 + bars_in_run[short] + after_rejected * period
    )
    reason = _reason_texts(needed).gather(reason_codes).alias("reason")
    if given is not None:
        reason = (
            pl.select(
                pl.when(given.is_not_null())
                .then(pl.concat_str(pl.lit("bar rejected: "), given))
                .otherwise(reason)
            )
            .to_series()
            .alias("reason")
        )
    return pl.DataFrame(
        [
            bars["symbol"].cast(pl.String),
            bars["date"],
            bars["close"],
            pl.Series("true_range", true_range, nan_to_null=True),
            pl.Series("atr", atr, nan_to_null=True),
            pl.Series("atr_pct", atr / c, nan_to_null=True),
            reason,
        ]
    )


def _given_issues(bars: pl.DataFrame) -> pl.Series | None:
    """The input's own `quality_issue` column when it names any bar (it wins over the rules)."""
    if "quality_issue" not in bars.columns:
        return None
    given = bars["quality_issue"].cast(pl.String)
    return None if given.null_count() == given.len() else given


def _reason_texts(needed: int) -> pl.Series:
    """Every reason a row can have, at its code's index: few distinct texts, gathered rather than
    formatted per row."""
    shorts = [f"needs {needed} consecutive clean bars, has {have}" for have in range(1, needed)]
    texts = [
        None,
        *(f"bar rejected: {ISSUE_NAMES[code]}" for code in sorted(ISSUE_NAMES)),
        *shorts,
        *(text + " since a rejected bar" for text in shorts),
    ]
    return pl.Series(texts, dtype=pl.String)


def _rolling_mean(values: Floats, period: int) -> Floats:
    """Mean of each row's last `period` values over the whole column (rows before the first full
    window: anything; the caller nulls them); `values` is overwritten. A cumulative sum restarted
    every `_BLOCK` rows: a window that starts in the previous block adds that block's total."""
    n = values.shape[0]
    sums = values
    if period >= _BLOCK:  # a window longer than a block: one plain cumulative sum
        np.cumsum(sums, out=sums)
    else:
        whole = n - n % _BLOCK
        blocks = sums[:whole].reshape(-1, _BLOCK)
        np.cumsum(blocks, axis=1, out=blocks)
        np.cumsum(sums[whole:], out=sums[whole:])
    window = min(period, n)
    means = np.empty(n)
    np.subtract(sums[window:], sums[:-window], out=means[window:])
    means[:window] = sums[:window]
    starts = np.arange(_BLOCK, n, _BLOCK)
    if starts.size and period < _BLOCK:
        heads = (starts[:, None] + np.arange(window)).ravel()
        heads = heads[heads < n]
        means[heads] += sums[heads - heads % _BLOCK - 1]
    means /= period
    return means


def _wilder(true_range: Floats, sma: Floats, bars_in_run: Ints, period: int) -> Floats:
    """Wilder's smoothing in every run at once.

    With f = (period - 1) / period, z is the filter z_t = f z_{t-1} + (1 - f) x_t over the whole
    column, x being the true range after each run's seed bar and 0 elsewhere. Inside a run whose
    seed (its SMA) sits at row s, Wilder's ATR_t = f^(t-s) SMA_s + sum_{s<j<=t} (1-f) f^(t-j) TR_j
    = z_t + f^(t-s) (SMA_s - z_s): z's part from earlier runs decays exactly as the seed does.
    """
    needed = period + 1
    x = np.where(bars_in_run > needed, true_range, 0.0)
    z: Floats = pl.Series(x).ewm_mean(alpha=1.0 / period, adjust=False).to_numpy(writable=True)
    seeds = np.flatnonzero(bars_in_run == needed)
    if not seeds.size:
        return z  # no row has enough bars: every one is nulled by the caller
    # Rows from one seed to the next: the ATR's rows of that seed's run, then rows the caller
    # nulls (a shorter run, a rejected bar) whose values do not matter.
    lengths = np.diff(seeds, append=z.shape[0])
    since_seed = np.arange(z.shape[0] - seeds[0], dtype=np.int64)
    since_seed -= np.repeat(seeds - seeds[0], lengths)
    # since_seed is small (a run's length): f^k from a table, not one power per row.
    decay = ((period - 1) / period) ** np.arange(since_seed.max() + 1, dtype=np.float64)
    correction = np.repeat(sma[seeds] - z[seeds], lengths)
    correction *= decay[since_seed]
    z[seeds[0] :] += correction
    return z


def _new_symbol(symbol: pl.Series) -> Bools:
    """True on each row whose symbol differs from the row before (and on the first row)."""
    changed: Bools = (symbol != symbol.shift(1)).fill_null(True).to_numpy()
    return changed


def symbol_starts(frame: pl.DataFrame) -> Bools | None:
    """The first row of each symbol when `frame` is sorted by (symbol, date) with no repeated
    (symbol, date), else None. One string comparison over the column; the sort order itself is
    checked on the symbols' first rows and on the dates (as integers) only."""
    new_symbol = _new_symbol(frame["symbol"])
    firsts = frame["symbol"].gather(np.flatnonzero(new_symbol))
    if not firsts.is_sorted() or firsts.n_unique() != firsts.len():
        return None
    dates = frame["date"]
    if dates.null_count():
        return None
    days = dates.to_physical().to_numpy()
    if not bool(np.all((np.diff(days) > 0) | new_symbol[1:])):
        return None
    return new_symbol


def latest_atr(series: pl.DataFrame) -> pl.DataFrame:
    """The last row per symbol of an `atr_series` result: the ATR a stop is sized with today."""
    if series.is_empty():
        return series
    new_symbol = symbol_starts(series)
    if new_symbol is None:
        series = series.sort("symbol", "date")
        new_symbol = _new_symbol(series["symbol"])
    last = np.append(np.flatnonzero(new_symbol)[1:] - 1, series.height - 1)
    return series[last]
