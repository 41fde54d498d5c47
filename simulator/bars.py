"""Daily bars for the sample universe, paged the way Alpaca pages multi-symbol requests.

Bars come sorted by symbol then time; `limit` caps the bars per page across all symbols; the
opaque `next_page_token` names the last bar sent. Days are XNYS sessions that have closed by the
simulator's clock; symbols outside the sample universe have no bars and are absent, as on Alpaca.
A day the simulated market played (`simulator.market`) is served as it was played: the regular
session's open, high, low and close of the quotes fed that day (`played`), not the sample walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from position_manager.market_calendar import NEW_YORK, market_days
from position_manager.sample_data import sample_daily_bars
from simulator.order_rules import INVALID, SimApiError
from simulator.page_tokens import decode_token, encode_token
from simulator.paths import DailyBar
from simulator.synthetic_bars import synthetic_daily_bars

Bar = tuple[date, float, float, float, float, int]

MAX_PAGE = 10_000


def _parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(NEW_YORK).date()
    except ValueError:
        raise SimApiError(400, INVALID, f"invalid date: {value!r}") from None


def _token(symbol: str, day: date) -> str:
    return encode_token({"s": symbol, "d": day.isoformat()})


def _untoken(token: str) -> tuple[str, date]:
    symbol, day = decode_token(token, s=str, d=date.fromisoformat)
    return symbol, day


def daily_bars(
    symbol: str,
    days: list[date],
    played: Mapping[tuple[str, date], DailyBar] | None = None,
    synthetic: frozenset[str] = frozenset(),
) -> list[Bar]:
    """The symbol's bars on `days`: as played where the market played them, else the sample's
    (or, for a symbol of `synthetic`, a benchmark's universe, its seeded walk)."""
    played = played or {}
    made = synthetic_daily_bars if symbol in synthetic else sample_daily_bars
    sample = {bar[0]: bar for bar in made(symbol, days)}
    out: list[Bar] = []
    for day in days:
        seen = played.get((symbol, day))
        if seen is not None:
            out.append((day, seen.open, seen.high, seen.low, seen.close, seen.volume))
        elif day in sample:
            out.append(sample[day])
    return out


def bars_page(
    params: dict[str, str],
    now: datetime,
    max_page: int = MAX_PAGE,
    played: Mapping[tuple[str, date], DailyBar] | None = None,
    synthetic: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The `/v2/stocks/bars` response for query `params` at simulator time `now`."""
    symbols = sorted({s.strip().upper() for s in params.get("symbols", "").split(",") if s})
    if not symbols:
        raise SimApiError(400, INVALID, "symbols is required")
    timeframe = params.get("timeframe", "1Day")
    if timeframe not in ("1Day", "1D"):
        raise SimApiError(400, INVALID, f"the simulator serves daily bars only, not {timeframe}")
    today = now.astimezone(NEW_YORK).date()
    start = _parse_day(params.get("start"), today)
    end = min(_parse_day(params.get("end"), today), today)
    limit = min(int(params.get("limit") or 1000), max_page, MAX_PAGE)
    if limit < 1:
        raise SimApiError(400, INVALID, "limit must be positive")
    days = [d for d in market_days(start, end) if d.close <= now]
    after = _untoken(params["page_token"]) if params.get("page_token") else None
    bars: dict[str, list[dict[str, Any]]] = {}
    count = 0
    next_token = None
    last: tuple[str, date] | None = None
    for symbol in symbols:
        if after is not None and symbol < after[0]:
            continue
        for day, o, h, low, c, v in daily_bars(symbol, [d.date for d in days], played, synthetic):
            if after is not None and (symbol, day) <= after:
                continue
            if count == limit and last is not None:
                next_token = _token(*last)
                break
            stamp = datetime.combine(day, time(0, 0), NEW_YORK)
            bars.setdefault(symbol, []).append(
                {
                    "t": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "o": o,
                    "h": h,
                    "l": low,
                    "c": c,
                    "v": v,
                    "n": v // 100,
                    "vw": round((h + low + c) / 3, 4),
                }
            )
            count += 1
            last = (symbol, day)
        if next_token is not None:
            break
    return {"bars": bars, "next_page_token": next_token}
