"""The notifier: a consumer of the alerts stream that tells a person, on its own thread.

It never touches the worker's quote loop: it reads `pm:stream:alerts` as the `pm-notifier`
consumer group (created at the stream's end: alerts raised before the first start are history,
not news), and for each `alert.*` event

1. de-duplicates across every notifier process and restart: `SET pm:alert:sent:{digest}
   <stream id> NX EX <window>` (digest of kind + symbol + cause, window ALERT_THROTTLE_SECONDS or
   the kind's ALERT_THROTTLE_BY_KIND); a key held by another alert means "already told";
2. sends it to every target, each retried after `retry_delays` (2 s, 10 s, 30 s) before it is
   given up with an ERROR line; if no target took it, the key is released so the next
   occurrence of the cause is tried again;
3. acknowledges it. An alert whose delivery was interrupted by a stop stays pending and is sent
   by the next start (its own key still names it).

Nothing here is fatal: Redis errors are logged and retried, a bad entry is logged and acked.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Self

import redis

from position_manager import events, redis_schema
from position_manager.config import Settings
from position_manager.errors import InvalidEventError
from position_manager.events import decode_event
from position_manager.logging import log_kv
from position_manager.redis_schema import text, text_or_none
from streaming.consumer import Consumer, ConsumerConfig, Message
from streaming.notify.notice import Notice, notice_from
from streaming.notify.targets import AlertTarget

log = logging.getLogger(__name__)

RETRY_DELAYS: Final = (2.0, 10.0, 30.0)
CLAIM_EVERY_SECONDS: Final = 60.0
# A notifier retries one target for ~42 s at most; an entry idle for 5 minutes is a dead one's.
CLAIM_IDLE_MS: Final = 300_000


def notifier_name(prefix: str = "notifier") -> str:
    return f"{prefix}-{socket.gethostname()}"


@dataclass
class NotifierStats:
    """What the notifier did since it started (tests and the stop log line read it)."""

    sent: int = 0
    duplicates: int = 0
    given_up: int = 0
    failed_attempts: int = 0
    bad_entries: int = 0


class _Stopped(Exception):
    """The notifier was asked to stop during a retry wait: leave the alert pending."""


class AlertNotifier:
    def __init__(
        self,
        client: redis.Redis,
        targets: Sequence[AlertTarget],
        window_for: Callable[[str], int],
        *,
        consumer_name: str | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        block_ms: int = 1000,
        claim_every: float = CLAIM_EVERY_SECONDS,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self._owns_client = owns_client
        self.targets = list(targets)
        self.window_for = window_for
        self.retry_delays = tuple(retry_delays)
        self.claim_every = claim_every
        self.consumer = Consumer(
            client,
            [events.ALERTS_STREAM],
            ConsumerConfig(
                group=redis_schema.NOTIFIER_GROUP,
                consumer=consumer_name or notifier_name(),
                count=50,
                block_ms=block_ms,
                claim_idle_ms=CLAIM_IDLE_MS,
            ),
        )
        self.stats = NotifierStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = False

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        log_kv(
            log,
            logging.INFO,
            "alert notifier started",
            targets=", ".join(t.label for t in self.targets) or "none",
            consumer=self.consumer.config.consumer,
        )
        self._thread = threading.Thread(target=self._run, name="alert-notifier", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._owns_client:
            self.client.close()
        log_kv(log, logging.INFO, "alert notifier stopped", **vars(self.stats))

    def _run(self) -> None:
        last_claim = 0.0
        while not self._stop.is_set():
            try:
                if not self._ready:
                    self.prepare()
                self.run_once()
                now = time.monotonic()
                if now - last_claim >= self.claim_every:
                    last_claim = now
                    self.handle(self.consumer.claim_idle())
            except _Stopped:
                return
            except redis.RedisError as exc:
                log_kv(log, logging.ERROR, "alert notifier: redis error", error=str(exc))
                self._ready = False
                self._stop.wait(1.0)
            except Exception as exc:  # a bug here must not end the thread: alerts matter
                log_kv(
                    log, logging.ERROR, "alert notifier: unexpected error", error=repr(exc)[:300]
                )
                self._stop.wait(1.0)

    def prepare(self) -> None:
        """The group at the stream's end (new alerts only), then what this consumer left
        unacked (an alert whose delivery a stop or a crash interrupted)."""
        try:
            self.client.xgroup_create(
                events.ALERTS_STREAM, redis_schema.NOTIFIER_GROUP, id="$", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True
        self.handle(self.consumer.read_own_pending())

    def run_once(self, block_ms: int | None = None) -> int:
        """One read of new alerts and their delivery; returns how many entries were read."""
        messages = self.consumer.read(block_ms)
        self.handle(messages)
        return len(messages)

    # --- one alert ----------------------------------------------------------------------------
    def handle(self, messages: list[Message]) -> None:
        for _stream, message_id, fields in messages:
            stream_id = text(message_id)
            try:
                notice = notice_from(stream_id, decode_event(fields))
            except InvalidEventError as exc:
                self.stats.bad_entries += 1
                log_kv(
                    log,
                    logging.WARNING,
                    "alert entry not understood, skipped",
                    stream_id=stream_id,
                    reason=str(exc)[:200],
                )
                self._ack(stream_id)
                continue
            self.deliver(notice)
            self._ack(stream_id)

    def deliver(self, notice: Notice) -> bool:
        """Send `notice` unless its cause was sent within its window; True when some target
        took it (False: a duplicate, or every target gave up). Raises `_Stopped` when asked
        to stop during a retry wait."""
        window = self.window_for(notice.kind)
        key = redis_schema.alert_sent_key(notice.digest())
        if window > 0 and not self._claim(key, notice.stream_id, window):
            self.stats.duplicates += 1
            log_kv(
                log,
                logging.INFO,
                "alert not sent again: same cause within the window",
                kind=notice.kind,
                symbol=notice.symbol,
                window_seconds=window,
                stream_id=notice.stream_id,
            )
            return False
        taken = [self._send(target, notice) for target in self.targets]
        if any(taken):
            self.stats.sent += 1
            return True
        if window > 0:
            self._release(key, notice.stream_id)
        return False

    def _claim(self, key: str, stream_id: str, window: int) -> bool:
        if self.client.set(key, stream_id, nx=True, ex=window):
            return True
        return text_or_none(self.client.get(key)) == stream_id  # ours: a redelivery

    def _release(self, key: str, stream_id: str) -> None:
        if text_or_none(self.client.get(key)) == stream_id:
            self.client.delete(key)

    def _send(self, target: AlertTarget, notice: Notice) -> bool:
        delays = (0.0, *self.retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if delay and self._stop.wait(delay):
                raise _Stopped
            if target.send(notice.title(), notice.body(), urgent=notice.urgent):
                log_kv(
                    log,
                    logging.INFO,
                    "alert sent",
                    kind=notice.kind,
                    symbol=notice.symbol,
                    target=target.label,
                    attempt=attempt,
                )
                return True
            self.stats.failed_attempts += 1
            if attempt < len(delays):
                log_kv(
                    log,
                    logging.WARNING,
                    "alert delivery failed, retrying",
                    kind=notice.kind,
                    symbol=notice.symbol,
                    target=target.label,
                    attempt=attempt,
                    retry_in_seconds=delays[attempt],
                )
        self.stats.given_up += 1
        log_kv(
            log, logging.ERROR, "alert delivery gave up", kind=notice.kind,
            symbol=notice.symbol, target=target.label, attempts=len(delays),
            stream_id=notice.stream_id,
        )  # fmt: skip
        return False

    def _ack(self, stream_id: str) -> None:
        self.client.xack(events.ALERTS_STREAM, redis_schema.NOTIFIER_GROUP, stream_id)


def build_notifier(settings: Settings, redis_url: str, **kwargs: Any) -> AlertNotifier | None:
    """The notifier for ALERT_URLS (None when it is empty or no URL is usable)."""
    from streaming.notify.targets import build_targets

    urls = settings.alert_url_list
    if not urls:
        return None
    targets = build_targets(urls)
    if not targets:
        return None
    client = redis.Redis.from_url(redis_url)
    return AlertNotifier(client, targets, settings.alert_throttle_for, owns_client=True, **kwargs)
