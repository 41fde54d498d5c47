"""Minute bars of the minutes the simulated market played, paged the way Alpaca pages them.

`GET /v2/stocks/bars?timeframe=1Min`: one bar per symbol per played minute (pre-market, regular
and after-hours alike, as Alpaca's minute bars include the extended sessions), sorted by symbol
then time, at most `limit` bars a page (10,000 at most) with an opaque `next_page_token`. A minute
is served once it has ended on the simulator's clock. The market plays one price a minute, so a
bar's open, high, low and close are that price: replaying the bars gives back the quotes a
worker saw. Minutes never played have no bars (Alpaca has bars for every traded minute; the
simulator only for what it played), so a replay falls back to the daily bars for those days.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.order_rules import INVALID, SimApiError
from simulator.page_tokens import decode_token, encode_token

MAX_PAGE = 10_000
MINUTE_TIMEFRAMES = ("1Min", "1T")
BAR_VOLUME = 100


class PlayedMinutes:
    """Per symbol, the (minute, price) pairs the market played, in time order (thread-safe: the
    market thread writes while the HTTP thread reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minutes: dict[str, list[tuple[datetime, float]]] = {}

    def record(self, symbol: str, minute: datetime, price: float) -> None:
        with self._lock:
            played = self._minutes.setdefault(symbol.upper(), [])
            if played and played[-1][0] >= minute:
                return  # one bar a minute; the clock never runs backwards
            played.append((minute, price))

    def between(self, symbol: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        with self._lock:
            played = self._minutes.get(symbol, [])
            lo = bisect.bisect_left(played, (start, float("-inf")))
            hi = bisect.bisect_right(played, (end, float("inf")))
            return played[lo:hi]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._minutes.values())


def _moment(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SimApiError(400, INVALID, f"invalid timestamp: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _token(symbol: str, minute: datetime) -> str:
    return encode_token({"s": symbol, "t": minute.isoformat()})


def _untoken(token: str) -> tuple[str, datetime]:
    symbol, minute = decode_token(token, s=str, t=datetime.fromisoformat)
    return symbol, minute


def minute_bars_page(
    params: dict[str, str],
    now: datetime,
    played: PlayedMinutes,
    max_page: int = MAX_PAGE,
) -> dict[str, Any]:
    """The `/v2/stocks/bars?timeframe=1Min` response for `params` at simulator time `now`."""
    symbols: Sequence[str] = sorted(
        {s.strip().upper() for s in params.get("symbols", "").split(",") if s.strip()}
    )
    if not symbols:
        raise SimApiError(400, INVALID, "symbols is required")
    start = _moment(params.get("start"), now - timedelta(days=1))
    end = min(_moment(params.get("end"), now), now - timedelta(minutes=1))
    try:
        limit = min(int(params.get("limit") or 1000), max_page, MAX_PAGE)
    except ValueError:
        raise SimApiError(400, INVALID, "limit must be an integer") from None
    if limit < 1:
        raise SimApiError(400, INVALID, "limit must be positive")
    after = _untoken(params["page_token"]) if params.get("page_token") else None
    bars: dict[str, list[dict[str, Any]]] = {}
    count = 0
    last: tuple[str, datetime] | None = None
    for symbol in symbols:
        if after is not None and symbol < after[0]:
            continue
        for minute, price in played.between(symbol, start, end):
            if after is not None and (symbol, minute) <= after:
                continue
            if count == limit and last is not None:
                return {"bars": bars, "next_page_token": _token(*last)}
            bars.setdefault(symbol, []).append(
                {
                    "t": minute.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "o": price,
                    "h": price,
                    "l": price,
                    "c": price,
                    "v": BAR_VOLUME,
                    "n": 1,
                    "vw": price,
                }
            )
            count += 1
            last = (symbol, minute)
    return {"bars": bars, "next_page_token": None}
