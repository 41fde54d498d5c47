"""A moving-window request budget: `limit` requests per `per_seconds` seconds.

A log of the request times inside the window, so requests can never bunch around a boundary (a
fixed window lets up to twice the limit through in a few seconds). The client's limiter
(`broker.rate_limit`) and the simulator's server-side 429 budget are both this window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class MovingWindow:
    """Never waits; thread-safe."""

    def __init__(
        self, limit: int, per_seconds: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit <= 0 or per_seconds <= 0:
            raise ValueError("rate limit and window must be positive")
        self.limit = limit
        self.per_seconds = per_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: deque[float] = deque()  # request times inside the window, oldest first

    def _expire(self, now: float) -> None:
        cutoff = now - self.per_seconds
        while self._taken and self._taken[0] <= cutoff:
            self._taken.popleft()

    def try_acquire(self) -> bool:
        """Take one request from the budget if there is one."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._taken) >= self.limit:
                return False
            self._taken.append(now)
            return True

    def remaining(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return self.limit - len(self._taken)

    def seconds_until_free(self) -> float:
        """How long until the oldest request in the window leaves it (0 when budget remains)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._taken) < self.limit:
                return 0.0
            return max(self._taken[0] + self.per_seconds - now, 0.0)
