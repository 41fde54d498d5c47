"""What the sensors share: a JSON cursor, and turning "Redis is down" into a skip.

Sensors run in the daemon every few seconds; an exception there shows up as a failed tick and,
repeated, as a crash loop in the UI. Anything a sensor cannot control (Redis down, the broker
unreachable) is therefore a `SkipReason` with a sentence that says what to do.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import redis

from position_manager.errors import PositionManagerError


def load_cursor(cursor: str | None) -> dict[str, Any]:
    """The sensor's cursor as a dict; a missing or unreadable cursor starts afresh."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_cursor(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


UNAVAILABLE = (redis.RedisError, PositionManagerError, OSError)


def redis_skip_reason(exc: BaseException) -> str:
    return (
        f"Redis is unreachable ({type(exc).__name__}: {exc}); nothing was requested. Start "
        "`position-manager worker` (it brings up the embedded Redis) or set REDIS_URL; the "
        "next tick tries again."
    )


def held_symbols(broker: Any) -> list[str] | dg.SkipReason:
    """The symbols the broker holds (sorted, upper case), or a skip saying it did not answer:
    any broker failure skips the tick, never crash-loops the sensor."""
    try:
        positions = broker.get_broker().list_positions()
    except Exception as exc:
        return dg.SkipReason(
            f"The broker could not list positions ({type(exc).__name__}: {exc}); nothing was "
            "requested, the next tick asks again."
        )
    return sorted({p.symbol.upper() for p in positions if p.qty != 0})
