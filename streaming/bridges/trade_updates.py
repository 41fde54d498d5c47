"""Alpaca's `TradingStream` trade updates -> `ORDERS_STREAM` (order.* events).

The mapping is `position_manager.trade_updates.order_event`, the same one the simulator uses, so
the worker sees identical events whichever broker is behind it. Order events are never trimmed.
"""

from __future__ import annotations

import logging
from typing import Any

from alpaca.trading.stream import TradingStream

from position_manager import events
from position_manager.logging import log_kv
from position_manager.trade_updates import order_event
from streaming.bridges.thread import StreamThread

log = logging.getLogger(__name__)


class TradeUpdateBridge(StreamThread):
    thread_name = "trade-bridge"

    def __init__(
        self,
        client: Any,
        api_key: str,
        secret_key: str,
        *,
        paper: bool = True,
        url_override: str | None = None,
    ) -> None:
        self._client = client
        self.stream = TradingStream(
            api_key,
            secret_key,
            paper=paper,
            raw_data=True,
            url_override=url_override,  # type: ignore[arg-type]
        )
        self.stream.subscribe_trade_updates(self._on_update)
        self.published = 0

    async def _on_update(self, msg: dict[str, Any]) -> None:
        update = msg.get("data", msg) if isinstance(msg, dict) else None
        mapped = order_event(update) if isinstance(update, dict) else None
        if mapped is None:
            return
        name, data = mapped
        try:
            events.publish(self._client, name, data)
            self.published += 1
        except Exception as exc:
            log_kv(
                log,
                logging.ERROR,
                "trade update not published",
                symbol=data.get("symbol"),
                order_id=data.get("order_id"),
                error=str(exc),
            )
