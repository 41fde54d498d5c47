"""Alpaca's `StockDataStream` quotes -> `QUOTES_STREAM` (market_data.quote.updated).

The SDK client runs its own asyncio loop in a thread; each quote becomes one XADD (trimmed with
MAXLEN, quotes may be lost, orders may not). Raw frames are used: no pydantic model per quote, and
the msgpack Timestamp (`t`, ext type -1) is converted here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream

from position_manager import events
from position_manager.logging import log_kv
from streaming.bridges.thread import StreamThread

log = logging.getLogger(__name__)


def _timestamp(value: Any) -> str:
    if hasattr(value, "to_datetime"):  # msgpack.Timestamp
        return str(value.to_datetime().isoformat())
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.now(UTC).isoformat()


def quote_data(msg: dict[str, Any]) -> dict[str, Any] | None:
    """Our quote event data for an Alpaca quote frame (None for anything else)."""
    if msg.get("T") != "q" or not msg.get("S"):
        return None
    return {
        "symbol": msg["S"],
        "bid": str(msg.get("bp")),
        "ask": str(msg.get("ap")),
        "timestamp": _timestamp(msg.get("t")),
    }


IEX_FREE_SYMBOLS = 30  # Alpaca's free plan: one IEX connection, 30 symbols


class QuoteBridge(StreamThread):
    thread_name = "quote-bridge"

    def __init__(
        self,
        client: Any,
        api_key: str,
        secret_key: str,
        symbols: Iterable[str],
        *,
        feed: str = "iex",
        url_override: str | None = None,
    ) -> None:
        self._client = client
        self._feed = feed
        self.symbols = sorted(set(symbols))
        self._warn_if_over_plan()
        self.stream = StockDataStream(
            api_key, secret_key, raw_data=True, feed=DataFeed(feed), url_override=url_override
        )
        self.stream.subscribe_quotes(self._on_quote, *self.symbols)
        self.published = 0

    def follow(self, symbols: Iterable[str]) -> list[str]:
        """Subscribe to symbols not followed yet (a position opened since the start); the
        running stream sends the subscription at once. Returns the newly followed symbols."""
        new = sorted({s.upper() for s in symbols} - set(self.symbols))
        if new:
            self.stream.subscribe_quotes(self._on_quote, *new)
            self.symbols = sorted(set(self.symbols) | set(new))
            log_kv(log, logging.INFO, "quote bridge follows", symbols=",".join(new))
            self._warn_if_over_plan()
        return new

    def _warn_if_over_plan(self) -> None:
        if self._feed == "iex" and len(self.symbols) > IEX_FREE_SYMBOLS:
            log_kv(
                log,
                logging.WARNING,
                "more symbols than Alpaca's free IEX stream serves: some get no quotes "
                "(ALPACA_DATA_FEED=sip needs a paid plan)",
                symbols=len(self.symbols),
                limit=IEX_FREE_SYMBOLS,
            )

    async def _on_quote(self, msg: Any) -> None:
        data = quote_data(msg)
        if data is None:
            return
        try:
            events.publish(self._client, events.QUOTE_UPDATED, data)
            self.published += 1
        except Exception as exc:  # Redis down: drop this quote, the next one comes soon
            log_kv(
                log, logging.WARNING, "quote not published", symbol=data["symbol"], error=str(exc)
            )
