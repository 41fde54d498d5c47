"""Daily bars as columns: the same bars as the typed path, in as few pages as Alpaca allows."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest

from broker.bar_pages import BARS_PAGE, MAX_SYMBOLS_PER_REQUEST, symbols_per_request
from pipelines.common import NEW_YORK
from pipelines.lib.ohlc import flag_bars
from pipelines.market_data.daily_bars import BAR_SCHEMA, fetch_bars
from position_manager.sample_data import SAMPLE_UNIVERSE
from tests.support.simulator import make_broker


@pytest.mark.parametrize(
    ("sessions", "expected"), [(20, 1000), (21, 952), (1, 1000), (252, 975), (20_000, 1000)]
)
def test_each_request_holds_whole_pages_of_symbols(sessions: int, expected: int) -> None:
    size = symbols_per_request(sessions)
    assert size == expected
    assert size <= MAX_SYMBOLS_PER_REQUEST
    per_page = max(BARS_PAGE // sessions, 1)  # symbols whose bars fill one page
    assert size % per_page == 0 or per_page > MAX_SYMBOLS_PER_REQUEST


def _typed_frame(bars: dict, first: datetime, last: datetime) -> pl.DataFrame:
    """What `fetch_bars` built from the typed `Bar`s before the columns path (the reference)."""
    rows = [
        (symbol.upper(), b.timestamp.astimezone(NEW_YORK).date(), float(b.open), float(b.high),
         float(b.low), float(b.close), float(b.volume))
        for symbol, series in bars.items()
        for b in series
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=BAR_SCHEMA, orient="row")
    frame = frame.filter(pl.col("date").is_between(first.date(), last.date()))
    return flag_bars(frame.unique(["symbol", "date"], keep="last").sort("symbol", "date"))


def test_bar_columns_give_the_typed_paths_frame_to_the_bit(redis_url: str) -> None:
    from simulator import start_simulator
    from tests.support.simulator import REGULAR_OPEN_MORNING

    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0.0
    ) as handle:
        broker = make_broker(handle)
        symbols = [s.symbol for s in SAMPLE_UNIVERSE] + ["NOPE"]
        first, last = datetime(2025, 1, 2), datetime(2025, 2, 27)
        ours = fetch_bars(broker, symbols, first.date(), last.date())
        start = datetime(2025, 1, 2, tzinfo=NEW_YORK)
        end = datetime(2025, 2, 27, 23, 59, 59, tzinfo=NEW_YORK)
        typed = _typed_frame(broker.get_daily_bars(symbols, start, end), first, last)
    assert ours.height == 38 * len(SAMPLE_UNIVERSE)
    assert ours.equals(typed)


def test_many_symbols_come_in_the_minimum_of_pages(redis_url: str) -> None:
    from simulator import start_simulator

    symbols = [f"ZB{i:04d}" for i in range(2500)]
    clock = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    with start_simulator(
        lifecycle="instant", clock_start=clock, clock_speed=0.0, bar_universe=frozenset(symbols)
    ) as handle:
        broker = make_broker(handle)
        start = datetime(2025, 2, 3, tzinfo=NEW_YORK)  # 19 sessions to 28 Feb (17 Feb closed)
        end = datetime(2025, 2, 28, 23, 59, 59, tzinfo=NEW_YORK)
        columns = broker.get_daily_bar_columns(symbols, start, end)
        pages = handle.simulator.stats["GET /v2/stocks/bars"]
    assert len(columns) == 2500 * 19
    assert pages == math.ceil(len(columns) / BARS_PAGE) == 5
