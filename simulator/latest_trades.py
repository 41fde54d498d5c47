"""The market data feed's latest trade per symbol, as `GET /v2/stocks/trades/latest` serves it.

Alpaca's data feed and its order router are separate systems: a test can print a trade on the
feed that the matching engine has not acted on yet (`record`), as well as feed a quote to both
(`Simulator.feed_quote` records its `last`). Body fields as in Alpaca's market-data OpenAPI spec
(`StockLatestTrades`): `t`, `x`, `p`, `s`, `c`, `i`, `z`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Print:
    price: Decimal
    at: datetime
    trade_id: int


class LatestTrades:
    def __init__(self) -> None:
        self._prints: dict[str, Print] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    def record(self, symbol: str, price: Decimal, at: datetime) -> None:
        with self._lock:
            self._prints[symbol.upper()] = Print(price, at, self._next_id)
            self._next_id += 1

    def price(self, symbol: str) -> Decimal | None:
        found = self._prints.get(symbol.upper())
        return found.price if found else None

    def body(self, symbols: list[str]) -> dict[str, Any]:
        """Symbols without a trade are left out, as Alpaca does."""
        trades: dict[str, Any] = {}
        for symbol in symbols:
            found = self._prints.get(symbol.upper())
            if found is None:
                continue
            trades[symbol.upper()] = {
                "t": found.at.isoformat().replace("+00:00", "Z"),
                "x": "V",
                "p": float(found.price),
                "s": 100,
                "c": ["@"],
                "i": found.trade_id,
                "z": "C",
            }
        return {"trades": trades}
