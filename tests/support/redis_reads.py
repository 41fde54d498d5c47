"""Reading back what the code under test wrote to Redis, as typed values.

redis-py types a reply loosely (`bytes | str` keys and values, a stream range that may be None);
these helpers give the tests `Event`s and `dict[str, str]`s, decoded the way the product decodes
them (`events.decode_event`, `redis_schema.text_fields`)."""

from __future__ import annotations

from typing import Any

import redis

from position_manager import events, redis_schema


def stream_entries(client: redis.Redis, stream: str) -> list[dict[bytes | str, bytes | str]]:
    """The raw fields of every entry of `stream`, oldest first."""
    out: list[dict[bytes | str, bytes | str]] = []
    for entry_id, fields in client.xrange(stream) or []:
        assert fields is not None, f"{stream} entry {entry_id!r} has no fields"
        out.append(fields)
    return out


def read_events(client: redis.Redis, stream: str) -> list[events.Event]:
    """Every entry of `stream` decoded as an event, oldest first."""
    return [events.decode_event(fields) for fields in stream_entries(client, stream)]


def event_data(
    client: redis.Redis, name: str | None = None, stream: str = events.POSITIONS_STREAM
) -> list[dict[str, Any]]:
    """The data of the `name` events (all events when None) on `stream`, oldest first."""
    return [e.data for e in read_events(client, stream) if name is None or e.event == name]


def stream_text(client: redis.Redis, stream: str) -> list[dict[str, str]]:
    """Every entry of `stream` as text fields (for entries that are not events: dead letters)."""
    return [redis_schema.text_fields(fields) for fields in stream_entries(client, stream)]


def get_bytes(client: redis.Redis, key: str) -> bytes | None:
    """GET as this client answers it: bytes (no `decode_responses`), or None when missing."""
    value = client.get(key)
    assert value is None or isinstance(value, bytes), f"{key}: {value!r} is not bytes"
    return value


def hash_text(client: redis.Redis, key: str) -> dict[str, str]:
    """A hash as text fields."""
    return redis_schema.text_fields(client.hgetall(key))
