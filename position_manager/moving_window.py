"""A moving-window request budget: `limit` requests per `per_seconds` seconds.

A log of the request times inside the window, so requests can never bunch around a boundary (a
fixed window lets up to twice the limit through in a few seconds). The client's in-process budget
(`broker.rate_limit`, and the shared budget's fallback when Redis is unreachable) and the
simulator's server-side 429 budget are all this window.
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

    def try_acquire(self, limit: int | None = None) -> bool:
        """Take one request from the budget if there is one (`limit`: a smaller budget for
        this call, e.g. a share of the whole)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._taken) >= (self.limit if limit is None else limit):
                return False
            self._taken.append(now)
            return True

    def record(self) -> int:
        """Log a request whatever the budget says (one made elsewhere, or one that arrived and
        was refused); returns how many the window now holds, this one included."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._taken.append(now)
            return len(self._taken)

    def used(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._taken)

    def remaining(self) -> int:
        return max(self.limit - self.used(), 0)

    def seconds_until_free(self, limit: int | None = None) -> float:
        """How long until a request fits again (0 when budget remains). With more than `limit`
        in the window (`record`), that is when enough of the oldest have left it."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            over = len(self._taken) - (self.limit if limit is None else limit)
            if over < 0:
                return 0.0
            return max(self._taken[over] + self.per_seconds - now, 0.0)

    def seconds_until_change(self) -> float:
        """How long until the oldest request leaves the window, i.e. until `remaining()` grows
        (0 when the window is empty): what Alpaca's X-RateLimit-Reset announces."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if not self._taken:
                return 0.0
            return max(self._taken[0] + self.per_seconds - now, 0.0)
