"""How to split a many-symbol daily-bars request so that Alpaca's pages come full.

`GET /v2/stocks/bars` returns at most 10,000 bars a page across all the request's symbols
(alpaca-py asks for that maximum and follows `next_page_token`), sorted by symbol then time. A
request's last page is usually partial, so the number of pages is smallest when each request's
symbols fill whole pages: with S sessions in the window, floor(10,000 / S) symbols fill one page.
A request holds a whole number of such groups, as many as fit under `MAX_SYMBOLS_PER_REQUEST`
(the symbols travel in the query string: 1,000 five-letter symbols are about 8 KB, within the
request-line limits of common HTTP servers). For a 20-session ATR window that is 1,000 symbols and
2 full pages a request: 5,000 symbols in 10 requests, the minimum of ceil(100,000 / 10,000).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from position_manager.market_calendar import market_days

BARS_PAGE: Final = 10_000  # Alpaca's maximum bars per page
MAX_SYMBOLS_PER_REQUEST: Final = 1_000


def symbols_per_request(sessions: int) -> int:
    """Symbols per request for a window of `sessions` sessions: whole pages, a bounded URL."""
    per_page = max(1, BARS_PAGE // max(sessions, 1))
    if per_page >= MAX_SYMBOLS_PER_REQUEST:
        return MAX_SYMBOLS_PER_REQUEST
    return per_page * (MAX_SYMBOLS_PER_REQUEST // per_page)


def request_chunks(symbols: Sequence[str], start: datetime, end: datetime) -> list[list[str]]:
    """The sorted, de-duplicated symbols in chunks of `symbols_per_request` for the window's
    sessions (every XNYS session from start's date to end's: an upper bound on bars a symbol
    can have)."""
    unique = sorted(set(symbols))
    size = symbols_per_request(len(market_days(start.date(), end.date())))
    return [unique[i : i + size] for i in range(0, len(unique), size)]
