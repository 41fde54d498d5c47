"""The chaos run's view of the broker: the simulator's `/sim/*` control routes only, so looking
never spends the account's rate budget, is never faulted, and never counts as a request."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

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
