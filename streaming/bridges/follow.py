"""Keeps the live quote bridge subscribed to every held symbol, including positions opened after
the worker started (Alpaca sends quotes only for subscribed symbols).

The follower owns the bridge: it starts it once there is a symbol to follow (no empty
subscription is ever sent) and extends its subscription when new positions appear.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from position_manager import redis_schema
from position_manager.logging import log_kv
from streaming.bridges.market_data import QuoteBridge

log = logging.getLogger(__name__)
_PREFIX = redis_schema.POSITION_STATE_KEY.format(symbol="")


def held_symbols(client: Any) -> set[str]:
    """Symbols the worker keeps state for (one hash per held position)."""
    out = set()
    for key in client.scan_iter(
        match=redis_schema.POSITION_STATE_KEY.format(symbol="*"), count=500
    ):
        text = key.decode() if isinstance(key, bytes) else str(key)
        out.add(text.removeprefix(_PREFIX))
    return out


class QuoteFollower:
    """Every `interval` seconds: held symbols + watchlist (+ `initial`) -> the bridge."""

    def __init__(
        self,
        client: Any,
        make_bridge: Callable[[set[str]], QuoteBridge],
        watchlist: Iterable[str] = (),
        initial: Iterable[str] = (),
        interval: float = 30.0,
    ) -> None:
        self._client = client
        self._make_bridge = make_bridge
        self._always = set(watchlist) | set(initial)
        self.interval = interval
        self.bridge: QuoteBridge | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quote-follower", daemon=True)

    def check(self) -> list[str]:
        """Follow what is held now; returns the symbols newly subscribed."""
        symbols = held_symbols(self._client) | self._always
        if self.bridge is None:
            if not symbols:
                return []
            self.bridge = self._make_bridge(symbols).start()
            return sorted(symbols)
        return self.bridge.follow(symbols)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # Redis down: try again next interval
                log_kv(log, logging.WARNING, "quote follower check failed", error=str(exc))

    def start(self) -> QuoteFollower:
        self.check()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.bridge is not None:
            self.bridge.stop()
