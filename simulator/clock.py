"""The simulator's own clock. Real time, or from a chosen instant at a chosen speed (0 freezes
it), so a demo can cross the open in seconds; sessions come from the shared NYSE calendar."""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta

from position_manager.market_calendar import session_at
from position_manager.session import Session


class SimClock:
    """Real time by default; `set(at=..., speed=...)` switches to simulated time."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._real = start is None and speed == 1.0
        self._anchor_sim = start or datetime.now(UTC)
        self._anchor_mono = _time.monotonic()
        self._speed = speed

    def now(self) -> datetime:
        if self._real:
            return datetime.now(UTC)
        with self._lock:
            elapsed = (_time.monotonic() - self._anchor_mono) * self._speed
            return self._anchor_sim + timedelta(seconds=elapsed)

    def set(self, at: datetime | None = None, speed: float | None = None) -> datetime:
        """Jump to `at` (UTC if naive) and/or change speed; returns the new now."""
        current = self.now()
        with self._lock:
            if at is not None and at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            self._anchor_sim = at or current
            self._anchor_mono = _time.monotonic()
            if speed is not None:
                if speed < 0:
                    raise ValueError("clock speed must be >= 0")
                self._speed = speed
            self._real = False
        return self.now()

    def advance(self, seconds: float) -> datetime:
        return self.set(at=self.now() + timedelta(seconds=seconds))

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def is_real(self) -> bool:
        return self._real

    def session(self) -> Session:
        return session_at(self.now())
