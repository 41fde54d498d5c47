"""Feed the simulator from the same Redis quote stream the worker reads.

The simulator has its own consumer group, so it sees every quote without taking any from the
worker. Malformed messages are acknowledged and logged (the worker's dead-letter stream is the
worker's business); they never stop the feed.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast

import redis

from position_manager import events
from position_manager.errors import InvalidEventError
from position_manager.logging import log_kv

log = logging.getLogger(__name__)


class QuoteSink(Protocol):
    """What the feed needs of the simulator (`Simulator.feed_quote`), so this module does not
    import the simulator that starts it."""

    def feed_quote(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
        ts: datetime | None = None,
    ) -> None: ...


class QuoteConsumer:
    def __init__(self, redis_url: str, simulator: QuoteSink, group: str = "simulator") -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._simulator = simulator
        self._group = group
        self._consumer = "simulator-1"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-quotes", daemon=True)

    def start(self) -> None:
        try:
            # "$": quotes from now on; old quotes would replay stale prices into fills.
            self._client.xgroup_create(events.QUOTES_STREAM, self._group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._client.xreadgroup(
                    self._group,
                    self._consumer,
                    {events.QUOTES_STREAM: ">"},
                    count=200,
                    block=200,
                )
            except redis.RedisError as exc:
                log_kv(log, logging.WARNING, "simulator quote feed error", error=str(exc))
                self._stop.wait(1.0)
                continue
            for _stream, messages in cast(list[tuple[Any, list[tuple[Any, Any]]]], batch or []):
                for entry_id, fields in messages:
                    self._apply(fields)
                    self._client.xack(events.QUOTES_STREAM, self._group, entry_id)

    def _apply(self, fields: dict[Any, Any]) -> None:
        try:
            event = events.decode_event(fields)
            if event.event != events.QUOTE_UPDATED:
                return
            data = event.data
            stamp = data.get("timestamp")
            self._simulator.feed_quote(
                str(data["symbol"]),
                Decimal(str(data["bid"])),
                Decimal(str(data["ask"])),
                None if data.get("last") in (None, "") else Decimal(str(data["last"])),
                datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
            )
        except (InvalidEventError, KeyError, ArithmeticError, ValueError) as exc:
            log_kv(log, logging.WARNING, "simulator skipped a bad quote", error=str(exc))
