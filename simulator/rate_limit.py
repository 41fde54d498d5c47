"""Alpaca's server-side request budget as the simulator enforces it: `limit` requests per
`per_seconds` seconds per API key, then 429 with X-RateLimit-* headers.

This is the server's side of the budget, so it lives here rather than reusing the client's
limiter in `broker/` (the simulator never imports the adapter it stands in for). It is a moving
window (a log of the request times inside it), so requests cannot bunch around a minute boundary.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class RequestWindow:
    """A moving-window budget of `limit` requests per `per_seconds` seconds; never waits."""

    def __init__(self, limit: int, per_seconds: int) -> None:
        if limit <= 0 or per_seconds <= 0:
            raise ValueError("rate limit and window must be positive")
        self.limit = limit
        self.per_seconds = per_seconds
        self._lock = threading.Lock()
        self._taken: deque[float] = deque()  # request times inside the window, oldest first

    def _expire(self, now: float) -> None:
        cutoff = now - self.per_seconds
        while self._taken and self._taken[0] <= cutoff:
            self._taken.popleft()

    def try_acquire(self) -> bool:
        """Count one request if the budget has room; False means answer 429."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            if len(self._taken) >= self.limit:
                return False
            self._taken.append(now)
            return True

    def remaining(self) -> int:
        with self._lock:
            self._expire(time.monotonic())
            return self.limit - len(self._taken)

    def seconds_until_free(self) -> float:
        """How long until the oldest request in the window leaves it (0 when budget remains)."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            if len(self._taken) < self.limit:
                return 0.0
            return max(self._taken[0] + self.per_seconds - now, 0.0)
