"""The promises the stateful tests check after every step: the pure checks live in
`rules.invariants` (the chaos run uses them too); this module adds the read of the positions
stream for `events_once`."""

from __future__ import annotations

from typing import cast

import redis

from position_manager import events
from rules import invariants as _pure
from rules.invariants import (
    OPEN,
    OrderView,
    closing_side,
    no_oversell_or_flip,
    one_stop_per_position,
    profit_levels_sold_once,
    whole_shares_covered,
)

__all__ = [
    "OPEN",
    "OrderView",
    "closing_side",
    "events_once",
    "no_oversell_or_flip",
    "one_stop_per_position",
    "profit_levels_sold_once",
    "whole_shares_covered",
]


def events_once(client: redis.Redis) -> list[str]:
    """No event id twice, and one `position.closed` per position, on the positions stream."""
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(events.POSITIONS_STREAM))
    decoded = (
        events.decode_event(cast(dict[bytes | str, bytes | str], raw)) for _id, raw in entries
    )
    return _pure.events_once(decoded)
