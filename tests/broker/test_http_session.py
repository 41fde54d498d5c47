"""The session alpaca-py sends through keeps a connection for every order thread: with requests'
default of 10 per host, the 11th concurrent order's connection was thrown away after its answer
("Connection pool is full") and a later order paid a new TCP connect before it left."""

from __future__ import annotations

from book.executor import OrderExecutor
from broker.http_session import CONNECTIONS_PER_HOST, BudgetedSession
from broker.rate_limit import RateLimiter


def test_the_session_keeps_a_connection_per_order_thread() -> None:
    session = BudgetedSession(RateLimiter(200, 60), 5.0, 1.0, ["https://paper-api.alpaca.markets"])
    defaults = OrderExecutor.__init__.__kwdefaults__ or {}
    order_threads = defaults["threads"]
    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(f"{prefix}paper-api.alpaca.markets/v2/orders")
        assert adapter._pool_maxsize == CONNECTIONS_PER_HOST  # type: ignore[attr-defined]
    assert order_threads + 2 <= CONNECTIONS_PER_HOST  # and the two reader threads
