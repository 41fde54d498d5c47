"""The chaos run's view of the broker: the simulator's `/sim/*` control routes only, so looking
never spends the account's rate budget, is never faulted, and never counts as a request."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY
from simulator.snapshot import book_from_json
from simulator.state import SimBook

ORDER_ROUTES = ("POST /v2/orders", "PATCH /v2/orders/", "DELETE /v2/orders/")


class SimControl:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()

    def _post(self, path: str, body: Any) -> Any:
        response = self._http.post(f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def seed(self, book: list[tuple[str, Decimal, Decimal]]) -> None:
        marks = {symbol: str(entry) for symbol, _qty, entry in book}
        self._post("/sim/seed", {"book": [[s, str(q), str(e)] for s, q, e in book], "marks": marks})

    def buy_by_hand(self, symbol: str, qty: Decimal) -> None:
        """A market buy through the trading API, as a person would place it (not a `pm-` id):
        the one request of the run that is not the worker's."""
        headers = {
            "APCA-API-KEY-ID": SIMULATOR_API_KEY,
            "APCA-API-SECRET-KEY": SIMULATOR_SECRET_KEY,
        }
        body = {
            "symbol": symbol,
            "qty": str(qty),
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": f"hand-{symbol}-1",
        }
        response = self._http.post(f"{self.url}/v2/orders", json=body, headers=headers, timeout=10)
        response.raise_for_status()

    def quotes(self, quotes: list[dict[str, str]]) -> None:
        self._post("/sim/quotes", quotes)

    def faults(self, **settings: Any) -> None:
        self._http.delete(f"{self.url}/sim/faults", timeout=10).raise_for_status()
        if settings:
            self._post("/sim/faults", settings)

    def stats(self) -> dict[str, int]:
        response = self._http.get(f"{self.url}/sim/stats", timeout=10)
        response.raise_for_status()
        return {k: v for k, v in response.json().items() if isinstance(v, int)}

    def book(self) -> SimBook:
        response = self._http.get(f"{self.url}/sim/book", timeout=10)
        response.raise_for_status()
        return book_from_json(response.text)

    @staticmethod
    def order_requests(stats: dict[str, int]) -> int:
        """Requests that place, replace or cancel an order (counted when they arrive)."""
        return sum(n for route, n in stats.items() if route.startswith(ORDER_ROUTES))

    def close(self) -> None:
        self._http.close()
