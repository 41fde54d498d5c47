"""What a person is told about an alert, and when a later alert counts as the same one.

Pure: no Redis, no apprise. The worker raises the same condition again every few minutes while it
lasts (a large loss whose percentage moves, a stale feed whose age grows), so "the same alert" is
the same kind, symbol and **cause**: the event's `cause` field when a producer gives one, else its
message with every number replaced by `#` ("AAPL is -15.3% from entry" and "AAPL is -16.1% from
entry" are one cause; "has no stop order" and "0.25 of 1250.25 shares have no stop" are two).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from position_manager import events
from position_manager.errors import InvalidEventError
from position_manager.events import Event
from position_manager.wire import printable

_NUMBER: Final = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
MAX_MESSAGE_CHARS: Final = 1000
MAX_CAUSE_CHARS: Final = 200
MAX_SYMBOL_CHARS: Final = 32
# Kinds that mean "a position may be exposed right now": sent as failures, the rest as warnings.
URGENT_KINDS: Final = frozenset(
    {
        events.ALERT_UNPROTECTED,
        events.ALERT_WORKER_DOWN,
        events.ALERT_CIRCUIT_OPEN,
        events.ALERT_STOP_NOT_FILLED,
    }
)


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert as a person reads it."""

    stream_id: str
    event: str  # alert.large_loss
    symbol: str | None
    message: str
    cause: str
    raised_at: datetime

    @property
    def kind(self) -> str:
        """`large_loss` for `alert.large_loss`: the name ALERT_THROTTLE_BY_KIND uses."""
        return self.event.removeprefix("alert.")

    @property
    def urgent(self) -> bool:
        return self.event in URGENT_KINDS

    def digest(self) -> str:
        """Same kind, symbol and cause: same digest (the de-duplication key)."""
        text = "\0".join((self.event, self.symbol or "", self.cause))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def title(self) -> str:
        subject = self.kind.replace("_", " ")
        return f"position-manager: {subject}" + (f" {self.symbol}" if self.symbol else "")

    def body(self) -> str:
        return (
            f"{self.message}\n"
            f"raised {self.raised_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({self.event})"
        )


def cause_of(data: Mapping[str, Any]) -> str:
    """The event's `cause`, or its message with the numbers taken out (see the module doc)."""
    explicit = data.get("cause")
    if isinstance(explicit, str) and explicit.strip():
        return printable(explicit.strip(), MAX_CAUSE_CHARS)
    message = data.get("message")
    if not isinstance(message, str):
        return ""
    return printable(_NUMBER.sub("#", message), MAX_CAUSE_CHARS)


def notice_from(stream_id: str, event: Event) -> Notice:
    """A `Notice` for an `alert.*` event; `InvalidEventError` for anything else."""
    if not event.event.startswith("alert."):
        raise InvalidEventError(f"not an alert: {event.event}")
    symbol = event.data.get("symbol")
    message = event.data.get("message")
    return Notice(
        stream_id=stream_id,
        event=event.event,
        symbol=printable(symbol, MAX_SYMBOL_CHARS) if isinstance(symbol, str) and symbol else None,
        message=printable(message, MAX_MESSAGE_CHARS)
        if isinstance(message, str) and message
        else event.event,
        cause=cause_of(event.data),
        raised_at=event.ts,
    )
