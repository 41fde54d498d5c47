"""The market session the position service acts in: the one the session publisher keeps in
Redis (the broker's clock, or the simulated one), else the exchange calendar's at `now`.

One reader for both hosts, so the worker and a Dagster job never disagree on the session.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from position_manager.market_calendar import session_at as calendar_session
from position_manager.redis_schema import SESSION_KEY, text_or_none
from position_manager.session import Session


def read_session(client: redis.Redis, now: datetime | None = None) -> Session:
    raw = text_or_none(client.get(SESSION_KEY))
    if raw is not None:
        try:
            return Session(raw.upper())
        except ValueError:
            pass
    return calendar_session(now or datetime.now(UTC))
