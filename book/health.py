"""Health, heartbeat and alerts: what an operator (or the reconciliation job) reads to trust the
worker.

The heartbeat key expires on its own (SET EX), so a worker that dies silently is seen as down
within the TTL; `worker_is_down` / `check_worker_down` are what other processes call. Alerts are
throttled per (name, symbol) so a lasting condition raises one alert per interval, not one per
quote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import redis
from redis.client import Pipeline

from position_manager import events
from position_manager.events import publish
from position_manager.redis_schema import (
    WORKER_DOWN_ALERT_KEY,
    WORKER_HEALTH_KEY,
    WORKER_HEARTBEAT_KEY,
    decode_heartbeat,
    heartbeat_value,
    redis_fields,
)
from position_manager.session import Session

# The worker's heartbeat key expires after 15 s; twice that is a worker that is really gone.
WORKER_MAX_AGE_SECONDS: Final = 30.0


class AlertThrottle:
    def __init__(
        self, interval: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str | None], float] = {}

    def allow(self, name: str, symbol: str | None = None) -> bool:
        now = self._clock()
        key = (name, symbol)
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        return True


def heartbeat(pipe: Pipeline, ttl_seconds: int, now: datetime | None = None) -> None:
    pipe.set(WORKER_HEARTBEAT_KEY, heartbeat_value(now), ex=ttl_seconds)


def write_health(pipe: Pipeline, fields: dict[str, str]) -> None:
    pipe.hset(WORKER_HEALTH_KEY, mapping=redis_fields(fields))


def heartbeat_age(client: redis.Redis, now: datetime | None = None) -> float | None:
    """Seconds since the last heartbeat; None when there is none (expired or never written)."""
    beat = decode_heartbeat(client.get(WORKER_HEARTBEAT_KEY))
    if beat is None:
        return None
    return ((now or datetime.now(UTC)) - beat).total_seconds()


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """Whether the worker is alive, which decides who acts on a symbol's orders: the worker
    (alive) or the Dagster job itself (down)."""

    alive: bool
    heartbeat_age: float | None

    def describe(self) -> str:
        """A clause that reads on its own ("the worker is down (heartbeat 45s old)")."""
        if self.heartbeat_age is None:
            return "the worker has no heartbeat (it is not running)"
        state = "alive" if self.alive else "down"
        return f"the worker is {state} (heartbeat {self.heartbeat_age:.0f}s old)"

    def sentence(self) -> str:
        """`describe()` as the start of a sentence."""
        text = self.describe()
        return text[:1].upper() + text[1:]


def worker_status(
    client: redis.Redis, max_age_seconds: float = WORKER_MAX_AGE_SECONDS
) -> WorkerStatus:
    age = heartbeat_age(client)
    return WorkerStatus(age is not None and age <= max_age_seconds, age)


def worker_is_down(
    client: redis.Redis, max_age_seconds: float = 30.0, now: datetime | None = None
) -> bool:
    """True when the heartbeat is missing or older than `max_age_seconds` (by total seconds)."""
    age = heartbeat_age(client, now)
    return age is None or age > max_age_seconds


def check_worker_down(
    client: redis.Redis, max_age_seconds: float = 30.0, alert_every_seconds: int = 300
) -> bool:
    """For other processes (the reconciliation job): publish `alert.worker_down` when the worker
    is down, at most once per `alert_every_seconds` across all processes. Returns down-ness."""
    down = worker_is_down(client, max_age_seconds)
    if down and client.set(WORKER_DOWN_ALERT_KEY, "1", nx=True, ex=alert_every_seconds):
        age = heartbeat_age(client)
        publish(
            client,
            events.ALERT_WORKER_DOWN,
            {
                "symbol": None,
                "message": "streaming worker heartbeat is "
                + ("missing" if age is None else f"{age:.0f}s old"),
                "heartbeat_age_seconds": age,
            },
        )
    return down


def stale_symbols(
    held: Iterable[str],
    last_quotes: Mapping[str, datetime],
    since: datetime,
    now: datetime,
    session: Session,
    stale_seconds: float,
) -> list[str]:
    """Held symbols without a quote for more than `stale_seconds` in the regular session.

    `since` is when watching began (the worker's start, or the open, whichever is later): a
    symbol not quoted since then counts from then, so a worker is not stale the moment it
    starts or the market opens, and is stale once the threshold passes with no price at all
    (a worker fed nothing used to report `healthy` with an empty `last_update`). Outside the
    regular session no quote is expected and nothing is stale."""
    if session is not Session.REGULAR:
        return []
    out = []
    for symbol in held:
        seen = last_quotes.get(symbol)
        reference = since if seen is None or seen < since else seen
        if (now - reference).total_seconds() > stale_seconds:
            out.append(symbol)
    return sorted(out)


def health_problems(
    health: Mapping[str, str],
    heartbeat_age: float | None,
    *,
    max_age_seconds: float = WORKER_MAX_AGE_SECONDS,
) -> list[str]:
    """Why the book is not healthy, in words (empty: healthy), from the worker's health hash
    and the age of its heartbeat: a worker that is down, stopped, stale (no quote for a held
    symbol in the regular session beyond STALE_DATA_SECONDS), or cut off from Redis or the
    broker. What `position-manager status` exits non-zero on."""
    if heartbeat_age is None:
        return ["no worker heartbeat: the worker is not running"]
    problems = []
    if heartbeat_age > max_age_seconds:
        problems.append(
            f"worker heartbeat is {heartbeat_age:.0f}s old (limit {max_age_seconds:.0f}s)"
        )
    status = health.get("status", "")
    stale = [s for s in health.get("stale_symbols", "").split(",") if s]
    if stale:
        problems.append(f"no quote in the regular session for {', '.join(stale)}")
    elif status != "healthy":
        problems.append(f"worker status is {status or 'unknown'}")
    if health.get("redis_connected") == "false":
        problems.append("the worker is not connected to Redis")
    if health.get("alpaca_connected") == "false":
        problems.append("the worker cannot reach the broker")
    return problems
