"""Alpha Vantage client on a local stand-in: parsing by header, notes as HTTP 200, cache."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.lib.alpha_vantage import (
    AlphaVantageApiError,
    AlphaVantageClient,
    AlphaVantageError,
    AlphaVantageFormatError,
    AlphaVantageRateLimitError,
    AlphaVantageUnknownSymbolError,
)
from tests.pipelines.av_standin import (
    CSV_ROWS_SPELLING_THE_NOTE,
    CSV_SPELLING_THE_NOTE,
    EARNINGS_CSV,
    EARNINGS_CSV_OLD,
    ERROR_MESSAGE,
    RATE_LIMIT_INFORMATION,
    RATE_LIMIT_NOTE,
    AlphaVantageStandIn,
    overview_json,
)

SECRET = "sekret-key-123"


@pytest.fixture
def client(alpha_vantage: AlphaVantageStandIn, tmp_path: Path) -> AlphaVantageClient:
    return AlphaVantageClient(api_key=SECRET, base_url=alpha_vantage.url, cache_dir=tmp_path / "av")


def _calendar_csv() -> str:
    return EARNINGS_CSV.format(aapl="2025-05-01", sndl="2025-05-08", msft="2025-04-24")


def test_calendar_is_read_by_header_name_with_the_newer_time_of_day_column(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("EARNINGS_CALENDAR", _calendar_csv(), csv=True)
    calendar = client.earnings_calendar("3month")
    by_symbol = {row.symbol: row for row in calendar.rows}
    assert by_symbol["AAPL"].report_date == date(2025, 5, 1)
    assert by_symbol["AAPL"].time_of_the_day == "post-market"
    assert by_symbol["SNDL"].estimate is None
    assert set(by_symbol) == {"AAPL", "SNDL", "MSFT"}
    assert len(calendar.skipped) == 1 and "ZZZZ" in calendar.skipped[0]
    # One whole-market request: no symbol parameter.
    (query,) = alpha_vantage.calls("EARNINGS_CALENDAR")
    assert "symbol" not in query and query["horizon"] == "3month"


def test_an_older_calendar_without_time_of_day_still_parses(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("EARNINGS_CALENDAR", EARNINGS_CSV_OLD, csv=True)
    (row,) = client.earnings_calendar("3month").rows
    assert row.report_date == date(2025, 5, 1) and row.time_of_the_day is None


def test_calendar_is_cached_for_its_ttl_and_refetched_after(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("EARNINGS_CALENDAR", _calendar_csv(), csv=True)
    first = client.earnings_calendar("3month")
    second = client.earnings_calendar("3month")
    assert not first.from_cache and second.from_cache
    assert len(alpha_vantage.calls("EARNINGS_CALENDAR")) == 1
    cached = client.cache_dir / "earnings_calendar_3month.csv"
    old = time.time() - client.earnings_cache_seconds - 60
    os.utime(cached, (old, old))
    client.earnings_calendar("3month")
    assert len(alpha_vantage.calls("EARNINGS_CALENDAR")) == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (RATE_LIMIT_INFORMATION, AlphaVantageRateLimitError),
        (RATE_LIMIT_NOTE, AlphaVantageRateLimitError),
        (ERROR_MESSAGE, AlphaVantageApiError),
        (CSV_SPELLING_THE_NOTE, AlphaVantageRateLimitError),
        (CSV_ROWS_SPELLING_THE_NOTE, AlphaVantageRateLimitError),
        ("", AlphaVantageFormatError),
        ("symbol,name,reportDate,fiscalDateEnding,estimate,currency\r\n", AlphaVantageFormatError),
        ("ticker,when\nAAPL,2025-05-01\n", AlphaVantageFormatError),
    ],
    ids=[
        "information",
        "note",
        "error-message",
        "csv-json-note",
        "csv-rows-note",
        "empty",
        "header-only",
        "wrong-columns",
    ],
)
def test_calendar_notes_and_bad_bodies_are_typed_errors_and_never_cached(
    client: AlphaVantageClient,
    alpha_vantage: AlphaVantageStandIn,
    body: str,
    error: type[AlphaVantageError],
) -> None:
    alpha_vantage.answer("EARNINGS_CALENDAR", body, csv=True)
    with pytest.raises(error) as info:
        client.earnings_calendar("3month")
    assert SECRET not in str(info.value)
    assert not (client.cache_dir / "earnings_calendar_3month.csv").exists()


def test_overview_market_cap_is_parsed_and_cached_for_days(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW:SNDL", overview_json("SNDL", "250000000"))
    assert client.overview("SNDL").market_cap == 250_000_000
    assert client.overview("sndl").from_cache
    assert len(alpha_vantage.calls("OVERVIEW")) == 1


def test_overview_of_an_unknown_symbol_is_a_clear_error(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW:NOPE", "{}")
    with pytest.raises(AlphaVantageUnknownSymbolError, match="NOPE"):
        client.overview("NOPE")


def test_overview_market_cap_none_is_unknown_not_zero(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW:SPY", overview_json("SPY", "None"))
    assert client.overview("SPY").market_cap is None


def test_overview_rate_limit_note_is_not_cached(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW", RATE_LIMIT_INFORMATION)
    with pytest.raises(AlphaVantageRateLimitError):
        client.overview("AAPL")
    assert client.stale_overview("AAPL") is None


def test_http_errors_never_echo_the_api_key(
    client: AlphaVantageClient, alpha_vantage: AlphaVantageStandIn
) -> None:
    alpha_vantage.answer("OVERVIEW", "oops", status=503)
    with pytest.raises(AlphaVantageError, match="HTTP 503") as info:
        client.overview("AAPL")
    assert SECRET not in str(info.value)
