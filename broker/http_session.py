"""The requests session alpaca-py sends everything through: the rate limit and a timeout on every
request, the broker's rate-limit headers fed back to the limiter, and the environment read once
(see `BudgetedSession`)."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

import requests
import requests.adapters

from broker.rate_feedback import read_budget
from broker.rate_limit import RequestBudget

# The worker's order threads (16, `book.executor`) and its reader threads, with room to spare.
CONNECTIONS_PER_HOST = 32

# Set by `AlpacaBroker.non_blocking()`: the limiter refuses at once instead of waiting.
HOT: ContextVar[bool] = ContextVar("broker_non_blocking", default=False)


class BudgetedSession(requests.Session):
    """The requests session alpaca-py uses, with our limiter and a timeout on every request.

    alpaca-py's RESTClient sends every call through `self._session.request(...)` (bars paging
    included), so the budget is taken in `request` and each answer's `X-RateLimit-*` headers
    (429s included) go back to the limiter from a response hook (`_feed_back`).

    The environment (HTTPS_PROXY/NO_PROXY, REQUESTS_CA_BUNDLE) is read once, here: by default
    requests re-reads all of os.environ on every request, a third of the time an order spends in
    this process before it leaves (benchmarks/bench_worker_latency.py).

    Connections: requests keeps 10 per host by default, and the worker sends from up to 16 order
    threads plus its reader threads; past 10 at once urllib3 discarded the connection after the
    answer ("Connection pool is full"), so a later order paid a new TCP connect before it left.
    `connections` per host are kept instead.
    """

    def __init__(
        self,
        limiter: RequestBudget,
        timeout: float,
        max_wait: float,
        urls: list[str],
        connections: int = CONNECTIONS_PER_HOST,
    ) -> None:
        super().__init__()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=connections)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.limiter = limiter
        self.hooks["response"].append(self._feed_back)
        self.timeout = timeout
        self.max_wait = max_wait
        self.request_count = 0
        for url in urls:
            self.proxies.update(requests.utils.get_environ_proxies(url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.verify = bundle
        self.trust_env = False

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.limiter.acquire(0.0 if HOT.get() else self.max_wait)
        kwargs.setdefault("timeout", self.timeout)
        self.request_count += 1
        return super().request(method, url, *args, **kwargs)

    def _feed_back(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        budget = read_budget(response.status_code, response.headers)
        if budget is not None:
            self.limiter.observe(budget)
