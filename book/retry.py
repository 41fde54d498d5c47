"""Retries on a timer: a failed order action is tried again later by the loop, never by sleeping.

Sleeping inside an event handler before a retry would freeze every other position. Here a
failure schedules the symbol with exponential backoff; the loop asks `due()` each pass and
re-evaluates the symbol then. While a symbol waits, quote-driven actions for it are held back so
a failing order is not re-sent on every quote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    due: float
    attempts: int


class RetrySchedule:
    def __init__(
        self,
        *,
        initial: float = 0.5,
        maximum: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._attempts: dict[str, int] = {}

    def schedule(self, symbol: str, delay: float | None = None) -> float:
        """Schedule a retry; without `delay`, backoff doubles per consecutive failure."""
        attempts = self._attempts.get(symbol, 0) + 1
        self._attempts[symbol] = attempts
        if delay is None:
            delay = min(self.maximum, self.initial * 2 ** (attempts - 1))
        self._entries[symbol] = _Entry(self._clock() + delay, attempts)
        return delay

    def waiting(self, symbol: str) -> bool:
        return symbol in self._entries

    def attempts(self, symbol: str) -> int:
        return self._attempts.get(symbol, 0)

    def succeeded(self, symbol: str) -> None:
        self._attempts.pop(symbol, None)
        self._entries.pop(symbol, None)

    def forget(self, symbol: str) -> None:
        self.succeeded(symbol)

    def due(self) -> list[str]:
        """Symbols whose retry time has come (removed from the schedule; attempts kept)."""
        now = self._clock()
        ready = [s for s, e in self._entries.items() if e.due <= now]
        for symbol in ready:
            del self._entries[symbol]
        return ready

    def next_due_in(self) -> float | None:
        if not self._entries:
            return None
        return max(0.0, min(e.due for e in self._entries.values()) - self._clock())
