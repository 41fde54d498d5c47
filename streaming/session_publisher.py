"""Publishes `market.session.changed` (and keeps `SESSION_KEY`) from the broker's clock, or from
the XNYS calendar when there is no broker.

The broker's clock says only open/closed and the next open/close, so PRE and POST come from the
calendar around it; with the clock's own timestamp (the simulator's may run fast or frozen) the
session follows the broker's time, not ours.

When the clock call fails (a 5xx or 429, or our own limiter or breaker refusing it) the last
known session is kept: the calendar at the host's time is not the broker's session (a simulated
clock, a halt, an early close), and flipping REGULAR to CLOSED on one failed call would stop
trailing and profit-taking. Only with no session known at all (the first call of a process
that finds none in Redis) does the calendar decide.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from book.broker_clock import BrokerClock, next_reading, record_clock
from broker.interface import Broker
from position_manager import events, redis_schema
from position_manager.logging import log_kv
from position_manager.market_calendar import session_at as calendar_session
from position_manager.session import Session

log = logging.getLogger(__name__)


def broker_session(broker: Broker, clock: BrokerClock | None = None) -> Session:
    """REGULAR when the broker says open; otherwise PRE/POST/CLOSED by the calendar at the
    broker's own time (never REGULAR: the broker knows about halts and closures we do not).
    The answer's time goes to `clock` (what the events are stamped with)."""
    answer = broker.get_clock()
    if clock is not None:
        clock.observe(next_reading(clock.reading, answer.timestamp, datetime.now(UTC)))
    if answer.is_open:
        return Session.REGULAR
    by_calendar = calendar_session(answer.timestamp)
    return Session.CLOSED if by_calendar is Session.REGULAR else by_calendar


class SessionPublisher:
    def __init__(self, client: Any, broker: Broker | None = None, interval: float = 15.0) -> None:
        self._client = client
        self._broker = broker
        self.interval = interval
        self.current: Session | None = None
        # Each answer of the broker's clock is recorded in Redis for every process's stamps.
        self.clock = BrokerClock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-publisher", daemon=True)

    def session_now(self) -> Session:
        if self._broker is None:
            return calendar_session(datetime.now(UTC))
        try:
            session = broker_session(self._broker, self.clock)
        except Exception as exc:
            known = self.current or self._published()
            log_kv(
                log,
                logging.WARNING,
                "clock unavailable, keeping the last known session"
                if known is not None
                else "clock unavailable and no session known, using the calendar",
                session=known.value if known is not None else None,
                error=type(exc).__name__,
                detail=str(exc)[:200],
            )
            return known if known is not None else calendar_session(datetime.now(UTC))
        reading = self.clock.reading
        if reading is not None:
            try:
                record_clock(self._client, reading)
            except Exception as exc:  # Redis down: the next answer is recorded
                log_kv(log, logging.WARNING, "broker clock not recorded", error=str(exc))
        return session

    def _published(self) -> Session | None:
        """The session in Redis (published by an earlier process), if any."""
        try:
            raw = self._client.get(redis_schema.SESSION_KEY)
        except Exception:
            return None
        try:
            return Session(redis_schema.text(raw)) if raw else None
        except ValueError:
            return None

    def publish_if_changed(self) -> Session:
        session = self.session_now()
        if session is not self.current:
            self._client.set(redis_schema.SESSION_KEY, session.value)
            events.publish(  # stamped on the broker's clock, like the worker's events
                self._client,
                events.SESSION_CHANGED,
                {"session": session.value},
                ts=self.clock.now(),
            )
            log_kv(log, logging.INFO, "session published", session=session.value)
            self.current = session
        return session

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_if_changed()
            except Exception:
                log.exception("session publisher failed")
            self._stop.wait(self.interval)

    def start(self) -> SessionPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
