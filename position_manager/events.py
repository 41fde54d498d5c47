"""The event contract: stream names, event names and the envelope every message uses.

Every producer (simulator, Alpaca bridges, worker, Dagster jobs) and every consumer (worker,
history sensor) goes through `encode_event` / `decode_event`, so a message on any stream looks the
same: ``{"event": name, "id": uuid4, "ts": ISO-8601 UTC, "data": JSON object}``. Redis keys and hash
fields are in `position_manager.redis_schema`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from position_manager.errors import InvalidEventError
from position_manager.wire import entry_text, load_json_object, quoted

# --- Streams (Redis Streams; quotes may be trimmed, the rest never are) ---------------------
QUOTES_STREAM: Final = "pm:stream:quotes"  # market_data.quote.updated
ORDERS_STREAM: Final = "pm:stream:orders"  # order.* (trade updates: simulator or Alpaca bridge)
POSITIONS_STREAM: Final = "pm:stream:positions"  # position.*
ALERTS_STREAM: Final = "pm:stream:alerts"  # alert.*
RISK_STREAM: Final = "pm:stream:risk"  # risk.trade_approved, risk.parameters_updated
SESSION_STREAM: Final = "pm:stream:session"  # market.session.changed
COMMANDS_STREAM: Final = "pm:stream:commands"  # requests to the worker from jobs
DEAD_LETTER_STREAM: Final = "pm:stream:dead_letter"
QUOTES_MAXLEN: Final = 100_000

# --- Event names ----------------------------------------------------------------------------
QUOTE_UPDATED: Final = "market_data.quote.updated"
SESSION_CHANGED: Final = "market.session.changed"
TRADE_APPROVED: Final = "risk.trade_approved"
# The pipeline published new risk parameters (`pm:risk:{SYM}` hashes, in the same MULTI/EXEC):
# the worker reads them again at once instead of after ATR_CACHE_TTL, so a fallback stop is
# re-planned from the new ATR. Its data ({"symbols", "as_of"}) is a hint only: the worker
# re-reads the hashes of the symbols it holds, whatever the message names.
RISK_PARAMETERS_UPDATED: Final = "risk.parameters_updated"

ORDER_NEW: Final = "order.new"
ORDER_FILLED: Final = "order.filled"
ORDER_PARTIALLY_FILLED: Final = "order.partially_filled"
ORDER_CANCELED: Final = "order.canceled"
ORDER_REPLACED: Final = "order.replaced"
ORDER_EXPIRED: Final = "order.expired"
ORDER_FAILED: Final = "order.failed"  # rejected by the broker, or could not be submitted
# A cancel / replace request was accepted but has not landed: the order can still fill.
ORDER_PENDING_CANCEL: Final = "order.pending_cancel"
ORDER_PENDING_REPLACE: Final = "order.pending_replace"
# A replace or cancel request the broker refused: the order it names is still live (or filled).
ORDER_REPLACE_REJECTED: Final = "order.replace_rejected"
ORDER_CANCEL_REJECTED: Final = "order.cancel_rejected"

POSITION_OPENED: Final = "position.opened"
POSITION_STOP_SET: Final = "position.stop_set"
POSITION_STOP_HIT: Final = "position.stop_hit"
POSITION_TARGET_HIT: Final = "position.target_hit"
POSITION_PNL_UPDATED: Final = "position.pnl_updated"
POSITION_CLOSED: Final = "position.closed"
POSITION_TRAILING_STOP_UPDATED: Final = "position.trailing_stop_updated"
POSITION_PROFIT_TAKING: Final = "position.profit_taking"
POSITION_EARNINGS_REDUCTION: Final = "position.earnings_reduction"
# A fill that made a position smaller without closing it (a profit level, an earnings cut, a
# partly filled stop): its price, its shares and the P&L it realized, from the broker's fill.
POSITION_REDUCED: Final = "position.reduced"
# The whole position asked to close (`command.flatten`, or a portfolio limit with FLATTEN).
POSITION_FLATTEN: Final = "position.flatten"
POSITION_ERROR: Final = "position.error"

ALERT_LARGE_LOSS: Final = "alert.large_loss"
ALERT_UNPROTECTED: Final = "alert.unprotected_position"
ALERT_STALE_DATA: Final = "alert.stale_data"
ALERT_CIRCUIT_OPEN: Final = "alert.circuit_open"
ALERT_WORKER_DOWN: Final = "alert.worker_down"
# A short's buy stop triggered but rests unfilled above its collar: replaced by a marketable exit.
ALERT_STOP_NOT_FILLED: Final = "alert.stop_not_filled"
# The account crossed DAILY_LOSS_LIMIT_PCT or MAX_DRAWDOWN_PCT: every stop tightened, or flat.
ALERT_PORTFOLIO_LIMIT: Final = "alert.portfolio_limit"
# A stop was placed at the fixed fallback distance because no usable ATR was known (never
# silently): re-planned from the ATR, and tightened, when one arrives.
ALERT_FALLBACK_STOP: Final = "alert.fallback_stop"

COMMAND_REDUCE_FOR_EARNINGS: Final = "command.reduce_for_earnings"
COMMAND_RECONCILE: Final = "command.reconcile"
# Publish every held position's unrealized P&L at its last price now (no payload).
COMMAND_PNL_SNAPSHOT: Final = "command.pnl_snapshot"
# Close every position (`position-manager flatten --confirm`; payload: {"cause": "..."}).
COMMAND_FLATTEN: Final = "command.flatten"


def event_names() -> frozenset[str]:
    """Every event name defined above (the README's catalogue must list each one)."""
    return frozenset(
        value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, str) and _EVENT_NAME.fullmatch(value)
    )


def alert_events() -> frozenset[str]:
    """Every `alert.*` event name: the kinds ALERT_THROTTLE_BY_KIND may name."""
    return frozenset(name for name in event_names() if name.startswith("alert."))


# What the worker reads on each stream it consumes; anything else there is dead-lettered.
CONSUMED_EVENTS: Final[Mapping[str, frozenset[str]]] = {
    QUOTES_STREAM: frozenset({QUOTE_UPDATED}),
    ORDERS_STREAM: frozenset(
        {
            ORDER_NEW,
            ORDER_FILLED,
            ORDER_PARTIALLY_FILLED,
            ORDER_CANCELED,
            ORDER_REPLACED,
            ORDER_EXPIRED,
            ORDER_FAILED,
            ORDER_PENDING_CANCEL,
            ORDER_PENDING_REPLACE,
            ORDER_REPLACE_REJECTED,
            ORDER_CANCEL_REJECTED,
        }
    ),
    RISK_STREAM: frozenset({TRADE_APPROVED, RISK_PARAMETERS_UPDATED}),
    SESSION_STREAM: frozenset({SESSION_CHANGED}),
    COMMANDS_STREAM: frozenset(
        {COMMAND_REDUCE_FOR_EARNINGS, COMMAND_RECONCILE, COMMAND_PNL_SNAPSHOT, COMMAND_FLATTEN}
    ),
}
# Event names are dotted lower-case words; ids are uuid4 hex (bridged events: Alpaca's ids).
_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,4}", re.ASCII)
MAX_EVENT_ID_CHARS: Final = 128


def stream_for(event: str) -> str:
    """The stream an event belongs on, by its prefix."""
    prefix = event.split(".", 1)[0]
    try:
        return _STREAM_BY_PREFIX[prefix]
    except KeyError:
        if event == SESSION_CHANGED:
            return SESSION_STREAM
        raise InvalidEventError(f"no stream for event {event!r}") from None


_STREAM_BY_PREFIX: Final = {
    "market_data": QUOTES_STREAM,
    "order": ORDERS_STREAM,
    "position": POSITIONS_STREAM,
    "alert": ALERTS_STREAM,
    "risk": RISK_STREAM,
    "command": COMMANDS_STREAM,
}


@dataclass(frozen=True, slots=True)
class Event:
    """A decoded stream message."""

    event: str
    id: str
    ts: datetime
    data: dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


def now_utc() -> datetime:
    return datetime.now(UTC)


def encode_event(
    event: str,
    data: Mapping[str, Any],
    *,
    event_id: str | None = None,
    ts: datetime | None = None,
) -> dict[str, str]:
    """Fields for XADD. Decimals travel as strings so no precision is lost on the way."""
    return {
        "event": event,
        "id": event_id or uuid.uuid4().hex,
        "ts": (ts or now_utc()).isoformat(),
        "data": json.dumps(dict(data), default=_json_default, separators=(",", ":")),
    }


def decode_event(fields: Mapping[Any, Any]) -> Event:
    """Parse XREAD fields; raise `InvalidEventError` with the reason for anything malformed.

    Total: any bytes, any size, any nesting, any number either decode or raise
    `InvalidEventError` (`position_manager.wire` bounds the entry before it is parsed)."""
    text = entry_text(fields)
    missing = [name for name in ("event", "id", "ts", "data") if not text.get(name)]
    if missing:
        raise InvalidEventError(f"missing envelope field(s): {', '.join(missing)}")
    name = text["event"]
    if not _EVENT_NAME.fullmatch(name):
        raise InvalidEventError(f"bad event name: {quoted(name)}")
    if len(text["id"]) > MAX_EVENT_ID_CHARS:
        raise InvalidEventError(f"event id of {len(text['id'])} characters: {quoted(text['id'])}")
    try:
        ts = datetime.fromisoformat(text["ts"])
    except ValueError:
        raise InvalidEventError(f"bad timestamp {quoted(text['ts'])}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    data = load_json_object(text["data"])
    return Event(event=name, id=text["id"], ts=ts, data=data)


def broker_time(event: Event) -> datetime:
    """When it happened on the broker's clock: the worker and the jobs stamp their events with
    it (`book.broker_clock`); an order update carries the broker's own `timestamp`, its
    envelope being the publisher's clock (the bridge's host). An unreadable or zone-less
    `timestamp` leaves the envelope's."""
    stamp = event.data.get("timestamp")
    if not event.event.startswith("order.") or not isinstance(stamp, str) or len(stamp) > 40:
        return event.ts
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return event.ts
    return at if at.tzinfo is not None else event.ts


def unexpected_event(stream: str, name: str) -> str | None:
    """Why `name` does not belong on the consumed `stream` (None: it does)."""
    expected = CONSUMED_EVENTS.get(stream)
    if expected is None or name in expected:
        return None
    if stream == COMMANDS_STREAM:
        return f"unknown command: {name}"
    return f"unexpected event on {stream}: {name}"


def publish(client: Any, event: str, data: Mapping[str, Any], **kwargs: Any) -> str:
    """XADD one event to its stream (quotes are trimmed approximately). Returns the stream id."""
    stream = stream_for(event)
    fields = encode_event(event, data, **kwargs)
    if stream == QUOTES_STREAM:
        entry_id = client.xadd(stream, fields, maxlen=QUOTES_MAXLEN, approximate=True)
    else:
        entry_id = client.xadd(stream, fields)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
