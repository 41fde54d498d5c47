"""Minute bars of the played minutes, through alpaca-py as a replay reads them.

Alpaca's market data API (`../shared/alpaca-openapi/market-data-api.json`, `GET
/v2/stocks/bars`): `timeframe` `1Min`, `limit` 1-10,000 bars per page across all symbols,
sorted by symbol then time, `next_page_token` to continue; minute bars include the extended
sessions. The simulator serves only minutes that have ended on its clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from simulator import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY, start_simulator
from tests.support.simulator import make_broker

START = datetime(2026, 11, 24, 14, 20, tzinfo=UTC)  # 09:20 New York: the pre-market


def test_played_minutes_come_back_paged_sorted_and_only_once_ended() -> None:
    handle = start_simulator(clock_start=START + timedelta(minutes=30), clock_speed=0.0,
                             max_bars_page=7)  # fmt: skip
    try:
        played = handle.simulator.played_minutes
        for minute in range(31):  # the 31st (START + 30 min) has not ended yet
            for symbol, base in (("MSFT", 400.0), ("AAPL", 185.0)):
                played.record(symbol, START + timedelta(minutes=minute), base + minute / 100)
        played.record("AAPL", START, 1.0)  # a second price for a played minute is ignored
        broker = make_broker(handle)
        bars = broker.get_minute_bars(["MSFT", "AAPL", "NVDA"], START, START + timedelta(hours=1))
        stats = dict(handle.simulator.stats)
    finally:
        handle.stop()
    assert sorted(bars) == ["AAPL", "MSFT"]  # NVDA: never played, no key (as at Alpaca)
    for symbol, base in (("MSFT", 400.0), ("AAPL", 185.0)):
        series = bars[symbol]
        assert [b.timestamp for b in series] == [START + timedelta(minutes=m) for m in range(30)]
        assert [float(b.close) for b in series] == [base + m / 100 for m in range(30)]
        assert all(b.open == b.high == b.low == b.close for b in series)
    assert stats["GET /v2/stocks/bars"] == 9  # 60 bars at 7 a page: every page followed


def get_bars(params: dict[str, str]) -> requests.Response:
    """One raw `GET /v2/stocks/bars` (alpaca-py would not send what these tests send)."""
    handle = start_simulator(clock_start=START, clock_speed=0.0)
    try:
        return requests.get(
            f"{handle.url}/v2/stocks/bars",
            params=params,
            headers={"APCA-API-KEY-ID": SIMULATOR_API_KEY,
                     "APCA-API-SECRET-KEY": SIMULATOR_SECRET_KEY},
            timeout=10,
        )  # fmt: skip
    finally:
        handle.stop()


def test_a_page_token_not_ours_is_refused() -> None:
    answer = get_bars({"symbols": "AAPL", "timeframe": "1Min", "page_token": "nope"})
    assert answer.status_code == 400
    assert "page_token" in answer.json()["message"]


@pytest.mark.parametrize("timeframe", ["5Min", "1Hour"])
def test_timeframes_it_does_not_serve_are_refused(timeframe: str) -> None:
    answer = get_bars({"symbols": "AAPL", "timeframe": timeframe})
    assert answer.status_code == 400
