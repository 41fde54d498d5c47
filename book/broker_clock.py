"""The broker's time, as the history and the earnings window must see it.

Every event is stamped with the broker's clock, not the host's: in the simulator that clock is
simulated (frozen for the demo, fast for `up --speed`), and even against Alpaca the session date
is New York's, not the host's. The broker says its time only when asked (`GET /v2/clock`, which
the session publisher polls and records in `BROKER_CLOCK_KEY`), so between readings the time is
carried forward at the rate it was seen to run (0 for a frozen clock, 60 for `--speed 60`).

What `now()` returns never goes backwards and never repeats within a process: the history orders
a position's events by their stamp, and a frozen clock would otherwise stamp a whole session
alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from position_manager.market_calendar import NEW_YORK
from position_manager.redis_schema import BROKER_CLOCK_KEY, text_fields

# A clock is believed to run at most this fast (a wrong reading must not fling the stamps ahead).
MAX_RATE: Final = 1000.0
# Readings closer together than this (host seconds) say nothing reliable about the rate.
MIN_RATE_GAP: Final = 1.0
TICK: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One answer of the broker's clock and the host's wall time when it came."""

    broker: datetime
    host: datetime
    rate: float = 1.0  # broker seconds per host second, as last measured

    def to_fields(self) -> dict[str, str]:
        return {
            "broker": self.broker.isoformat(),
            "host": self.host.isoformat(),
            "rate": repr(self.rate),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> ClockReading | None:
        """None for a missing or unreadable record (then the host's clock is used)."""
        try:
            broker = datetime.fromisoformat(fields["broker"])
            host = datetime.fromisoformat(fields["host"])
            rate = float(fields.get("rate", "1"))
        except (KeyError, ValueError, TypeError):
            return None
        if broker.tzinfo is None or host.tzinfo is None or not 0 <= rate <= MAX_RATE:
            return None
        return cls(broker, host, rate)


def next_reading(previous: ClockReading | None, broker: datetime, host: datetime) -> ClockReading:
    """A new reading, with the rate measured against the previous one when they are far enough
    apart (else the previous rate is kept)."""
    if previous is None:
        return ClockReading(broker, host)
    gap = (host - previous.host).total_seconds()
    if gap < MIN_RATE_GAP:
        return ClockReading(broker, host, previous.rate)
    rate = (broker - previous.broker).total_seconds() / gap
    return ClockReading(broker, host, min(max(rate, 0.0), MAX_RATE))


class BrokerClock:
    """The broker's time now, from the latest reading (thread-safe: the executor's threads and
    the loop both stamp)."""

    def __init__(self, wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._wall = wall
        self._reading: ClockReading | None = None
        self._last: datetime | None = None
        self._lock = threading.Lock()

    @property
    def reading(self) -> ClockReading | None:
        return self._reading

    def observe(self, reading: ClockReading | None) -> None:
        """Take a reading unless it is older (by the host's time) than the one held."""
        if reading is None:
            return
        with self._lock:
            if self._reading is None or reading.host >= self._reading.host:
                self._reading = reading

    def observe_answer(self, broker: datetime) -> None:
        """The broker's time from an answer that just came (e.g. a catch-up's clock read)."""
        self.observe(next_reading(self._reading, broker, self._wall()))

    def now(self) -> datetime:
        with self._lock:
            wall = self._wall()
            reading = self._reading
            if reading is None:
                at = wall
            else:
                elapsed = max((wall - reading.host).total_seconds(), 0.0)
                at = reading.broker + timedelta(seconds=elapsed * reading.rate)
            if self._last is not None and at <= self._last:
                at = self._last + TICK
            self._last = at
            return at

    def today(self) -> date:
        """The New York date at the broker's time (the session date)."""
        return self.now().astimezone(NEW_YORK).date()


def read_clock(client: Any) -> ClockReading | None:
    """The last reading a session publisher recorded (None when there is none or Redis fails:
    the stamps then carry on from the reading already held, or the host's clock)."""
    try:
        raw = client.hgetall(BROKER_CLOCK_KEY)
    except Exception:
        return None
    return ClockReading.from_fields(text_fields(raw or {}))


def record_clock(client: Any, reading: ClockReading) -> None:
    client.hset(BROKER_CLOCK_KEY, mapping=reading.to_fields())


def broker_today(client: Any) -> date:
    """The session date at the broker's last recorded time (the host's without a record): what
    a Dagster sensor or job counts the earnings window from, as the worker does."""
    clock = BrokerClock()
    clock.observe(read_clock(client))
    return clock.today()
