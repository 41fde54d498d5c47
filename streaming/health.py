"""Health, heartbeat and alerts: what an operator (or the reconciliation job) reads to trust the
worker.

The heartbeat key expires on its own (SET EX), so a worker that dies silently is seen as down
within the TTL; `worker_is_down` / `check_worker_down` are what other processes call. Alerts are
throttled per (name, symbol) so a lasting condition raises one alert per interval, not one per
quote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from position_manager import events
from position_manager.events import WORKER_HEALTH_KEY, WORKER_HEARTBEAT_KEY, publish

WORKER_DOWN_ALERT_KEY = "pm:alert:worker_down"


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


def heartbeat(pipe: Any, ttl_seconds: int, now: datetime | None = None) -> None:
    pipe.set(WORKER_HEARTBEAT_KEY, (now or datetime.now(UTC)).isoformat(), ex=ttl_seconds)


def health_fields(
    *,
    positions_count: int,
    active_stops: int,
    total_pnl: Decimal,
    last_update: datetime | None,
    market_session: str,
    active_management: bool,
    redis_connected: bool,
    alpaca_connected: bool,
    status: str = "healthy",
) -> dict[str, str]:
    """The seed's health-check fields, as strings for a Redis hash."""
    return {
        "status": status,
        "positions_count": str(positions_count),
        "active_stops": str(active_stops),
        "total_pnl": str(total_pnl),
        "last_update": last_update.isoformat() if last_update else "",
        "market_session": market_session,
        "active_management": "true" if active_management else "false",
        "redis_connected": "true" if redis_connected else "false",
        "alpaca_connected": "true" if alpaca_connected else "false",
        "updated_at": datetime.now(UTC).isoformat(),
    }


def write_health(pipe: Any, fields: dict[str, str]) -> None:
    pipe.hset(WORKER_HEALTH_KEY, mapping=fields)


def heartbeat_age(client: Any, now: datetime | None = None) -> float | None:
    """Seconds since the last heartbeat; None when there is none (expired or never written)."""
    raw = client.get(WORKER_HEARTBEAT_KEY)
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        beat = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ((now or datetime.now(UTC)) - beat).total_seconds()


def worker_is_down(client: Any, max_age_seconds: float = 30.0, now: datetime | None = None) -> bool:
    """True when the heartbeat is missing or older than `max_age_seconds` (by total seconds)."""
    age = heartbeat_age(client, now)
    return age is None or age > max_age_seconds


def check_worker_down(
    client: Any, max_age_seconds: float = 30.0, alert_every_seconds: int = 300
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
