"""Redis Streams consumer-group plumbing: groups, reads, reclaiming, delivery counts, dead letters.

Modelled on taskiq-redis (XGROUP CREATE MKSTREAM tolerant of BUSYGROUP, XREADGROUP with BLOCK and
COUNT, XAUTOCLAIM of idle entries) and dramatiq (bounded redelivery, then a dead-letter store with
a reason). Where taskiq-redis reclaims a poison message forever, `Consumer` counts deliveries
(XPENDING) and dead-letters a message delivered more than `max_deliveries` times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from position_manager.redis_schema import text

log = logging.getLogger(__name__)

DEFAULT_GROUP: Final = "pm-worker"

# (stream, message id, fields) as redis-py returns them (bytes, no decoding: it is the hot path).
Message = tuple[str, Any, dict[Any, Any]]


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    group: str = DEFAULT_GROUP
    consumer: str = "worker-1"
    count: int = 5000  # per stream per read: large batches amortise the round trip
    block_ms: int = 1000
    claim_idle_ms: int = 30_000  # a pending entry idle this long belongs to a dead consumer
    max_deliveries: int = 5


class Consumer:
    """Reads several streams as one consumer of one group."""

    def __init__(self, client: redis.Redis, streams: Sequence[str], config: ConsumerConfig) -> None:
        self.client = client
        self.streams = list(streams)
        self.config = config
        # `read` is the hot path: redis-py's XREADGROUP callback turns every entry into a tuple
        # around a dict, and `read` then built its own tuple around that, two passes over 5,000
        # entries a batch. A client on the same connection pool (same server, credentials,
        # protocol, timeouts) answers XREADGROUP as Redis sent it, and `_messages` makes the
        # messages in one pass: a third more quotes a second for the raw read alone.
        self._reader = redis.Redis(connection_pool=client.connection_pool)
        self._reader.set_response_callback("XREADGROUP", _as_sent)

    def ensure_groups(self) -> None:
        """Create each group at the stream's start ("0": nothing published before we first ran
        is skipped); an existing group is fine (BUSYGROUP)."""
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.config.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read(
        self, block_ms: int | None = None, streams: Sequence[str] | None = None
    ) -> list[Message]:
        """New messages (">"), up to `count` per stream (of `streams`, default all); blocks at
        most `block_ms` (None: the configured time, 0: do not block)."""
        block = self.config.block_ms if block_ms is None else block_ms
        reply: Any = self._reader.xreadgroup(
            self.config.group,
            self.config.consumer,
            dict.fromkeys(streams or self.streams, ">"),
            count=self.config.count,
            block=block if block > 0 else None,
        )
        return _messages(reply)

    def read_own_pending(self, streams: Sequence[str] | None = None) -> list[Message]:
        """Messages delivered to this consumer name but never acked (a restart after a crash),
        of `streams` (default all)."""
        out: list[Message] = []
        for stream in streams or self.streams:
            reply: Any = self.client.xreadgroup(
                self.config.group, self.config.consumer, {stream: "0"}, count=self.config.count
            )
            for _name, entries in reply or ():
                out.extend((stream, msg_id, fields) for msg_id, fields in entries if fields)
        return out

    def claim_idle(self) -> list[Message]:
        """Take over entries idle longer than `claim_idle_ms` (a dead consumer's, or our own that
        a failed handler left unacked: that is how a failing message is retried)."""
        out: list[Message] = []
        for stream in self.streams:
            start = "0-0"
            while True:
                reply = self.client.xautoclaim(
                    stream,
                    self.config.group,
                    self.config.consumer,
                    self.config.claim_idle_ms,
                    start_id=start,
                    count=self.config.count,
                )
                next_id, entries = reply[0], reply[1]
                out.extend((stream, msg_id, fields) for msg_id, fields in entries if fields)
                if text(next_id) == "0-0" or not entries:
                    break
                start = text(next_id)
        return out

    def delivery_counts(self, stream: str, ids: Sequence[bytes]) -> dict[bytes, int]:
        """How often each pending message has been delivered (XPENDING extended form)."""
        if not ids:
            return {}
        wanted = set(ids)
        low, high = min(ids, key=_id_key), max(ids, key=_id_key)
        rows = self.client.xpending_range(
            stream, self.config.group, min=low, max=high, count=max(len(ids), 100) * 4
        )
        return {
            row["message_id"]: int(row["times_delivered"])
            for row in rows
            if row["message_id"] in wanted
        }

    def split_poison(self, messages: list[Message]) -> tuple[list[Message], list[Message]]:
        """(still worth trying, delivered past the limit) for redelivered messages."""
        by_stream: dict[str, list[bytes]] = {}
        for stream, msg_id, _ in messages:
            by_stream.setdefault(stream, []).append(msg_id)
        counts: dict[tuple[str, bytes], int] = {}
        for stream, ids in by_stream.items():
            for msg_id, n in self.delivery_counts(stream, ids).items():
                counts[(stream, msg_id)] = n
        keep: list[Message] = []
        poison: list[Message] = []
        for message in messages:
            n = counts.get((message[0], message[1]), 1)
            (poison if n > self.config.max_deliveries else keep).append(message)
        return keep, poison


def _as_sent(response: Any, **options: Any) -> Any:
    return response


def _messages(reply: Any) -> list[Message]:
    """XREADGROUP's reply as it came (RESP3: {stream: entries}; RESP2: [[stream, entries]],
    each entry [id, [field, value, ...]]) as messages with their fields in a dict, as redis-py's
    own callback would give them. A deleted entry (no fields: only in a re-read of pending
    ones) is left out."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    out: list[Message] = []
    add = out.append
    for stream_name, entries in pairs:
        stream = text(stream_name)
        for msg_id, flat in entries or ():
            if flat is None:
                continue
            items = iter(flat)
            add((stream, msg_id, dict(zip(items, items, strict=False))))
    return out


def _id_key(message_id: bytes) -> tuple[int, int]:
    ms, _, seq = text(message_id).partition("-")
    return int(ms), int(seq or 0)
