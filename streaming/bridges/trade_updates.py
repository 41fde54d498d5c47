"""Alpaca's `TradingStream` trade updates -> `ORDERS_STREAM` (order.* events).

The mapping is `position_manager.trade_updates.order_event`, the same one the simulator uses, so
the worker sees identical events whichever broker is behind it. Order events are never trimmed.

Alpaca does not replay the updates sent while the socket was down, so each time the stream
(re)connects the bridge publishes `command.reconcile`: the worker then asks the broker what it
missed (`book.catchup`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alpaca.trading.stream import TradingStream

from position_manager import events
from position_manager.logging import log_kv
from position_manager.trade_updates import order_event
from streaming.bridges.thread import StreamThread

log = logging.getLogger(__name__)


class ConnectionAwareTradingStream(TradingStream):
    """alpaca-py's `TradingStream` that says when its websocket is (re)connected: alpaca-py
    (0.44) runs `_start_ws` (connect, authenticate, listen) on the first connection and after
    every reconnect, so the hook is there."""

    def __init__(self, *args: Any, on_connect: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self._on_connect()


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
        self.stream = ConnectionAwareTradingStream(
            api_key,
            secret_key,
            paper=paper,
            raw_data=True,
            url_override=url_override,
            on_connect=self._on_connect,
        )
        self.stream.subscribe_trade_updates(self._on_update)
        self.published = 0
        self.connections = 0

    def _on_connect(self) -> None:
        """Connected (again): whatever happened while it was not is the broker's to tell."""
        self.connections += 1
        try:
            events.publish(
                self._client,
                events.COMMAND_RECONCILE,
                {
                    "symbol": None,
                    "trigger": "trade stream connected",
                    "connection": self.connections,
                },
            )
        except Exception as exc:  # the worker also catches up on its timer and after Redis is back
            log_kv(log, logging.ERROR, "reconcile request not published", error=str(exc))

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
