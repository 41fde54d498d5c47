"""Validating what arrives on the streams: typed records out, `InvalidEventError` with a reason.

The quote path is the hot one. `quote_symbol` pulls the symbol out of the raw JSON bytes with one
regex search, so a quote for a symbol we do not hold (4,980 of 5,000) is dropped after a dict
lookup, before any JSON or number is parsed. A held symbol's quote in the exact form our bridges
write is read by `canonical_quote_data` (one regex instead of the generic envelope and JSON
readers); anything else takes the general way (`decode_event`), and `parse_quote` validates both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from position_manager import amounts
from position_manager.broker_types import OrderSide
from position_manager.errors import InvalidEventError
from position_manager.events import MAX_EVENT_ID_CHARS, QUOTE_UPDATED
from position_manager.session import Session
from position_manager.wire import entry_text, load_json_object, printable, quoted
from rules.model import Quote

_SYMBOL_IN_JSON: Final = re.compile(rb'"symbol"\s*:\s*"([^"\\]{0,40})"')
# A quote's data exactly as `events.encode_event` writes it (compact `json.dumps`, keys in the
# bridges' order, every value a string): printable ASCII without a quote or a backslash, so each
# captured value is the JSON string's own text. Anything else (spaces, escapes, other keys or
# order, numbers, non-ASCII) does not match and is read by the general JSON reader.
_JSON_TEXT: Final = rb'"([\x20\x21\x23-\x5b\x5d-\x7e]{1,40})"'
_CANONICAL_QUOTE: Final = re.compile(
    rb'\{"symbol":' + _JSON_TEXT + rb',"bid":' + _JSON_TEXT + rb',"ask":' + _JSON_TEXT
    + rb'(?:,"last":' + _JSON_TEXT + rb')?,"timestamp":' + _JSON_TEXT + rb"\}"
)  # fmt: skip
_QUOTE_EVENT: Final = QUOTE_UPDATED.encode()
_ENVELOPE: Final = frozenset({b"event", b"id", b"ts", b"data"})
MAX_ENVELOPE_TS_BYTES: Final = 64
_VALID_SYMBOL: Final = re.compile(r"[A-Z][A-Z0-9]{0,9}([./-][A-Z0-9]{1,5})?")
_APPROVAL_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,100}", re.ASCII)
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_SIDES: Final = frozenset(side.value for side in OrderSide)
_SESSIONS: Final = frozenset(session.value for session in Session)
MAX_ID_CHARS: Final = 128  # Alpaca's client_order_id limit; order ids are UUIDs
MAX_REASON_CHARS: Final = 500
MAX_TIMESTAMP_CHARS: Final = 40


def quote_symbol(data: bytes) -> bytes | None:
    """The symbol of a quote's JSON data, without parsing it (None: not found, parse fully)."""
    match = _SYMBOL_IN_JSON.search(data)
    return match.group(1) if match else None


def canonical_quote_data(fields: dict[Any, Any]) -> dict[str, str] | None:
    """A quote entry's data when the entry is in the canonical form: what `decode_event` would
    return as its data, with the same envelope accepted (the four fields, the quote event, an id
    of 1-`MAX_EVENT_ID_CHARS` characters, a `ts` that `datetime.fromisoformat` reads). None for
    any other entry: the caller decodes it in full, and refuses it there if it is malformed.

    It exists for speed (the generic readers are half the cost of a held quote) and can only
    ever accept less than they do, never more: `tests/book/test_canonical_quotes.py`."""
    if fields.keys() != _ENVELOPE or fields[b"event"] != _QUOTE_EVENT:
        return None
    msg_id, ts, data = fields[b"id"], fields[b"ts"], fields[b"data"]
    if not (isinstance(msg_id, bytes) and isinstance(ts, bytes) and isinstance(data, bytes)):
        return None
    if not (0 < len(msg_id) <= MAX_EVENT_ID_CHARS and msg_id.isascii()):
        return None
    if not (0 < len(ts) <= MAX_ENVELOPE_TS_BYTES and ts.isascii()):
        return None
    match = _CANONICAL_QUOTE.fullmatch(data)
    if match is None:
        return None
    try:
        datetime.fromisoformat(ts.decode())
    except ValueError:
        return None
    symbol, bid, ask, last, stamp = match.groups()
    out = {"symbol": symbol.decode(), "bid": bid.decode(), "ask": ask.decode()}
    if last is not None:
        out["last"] = last.decode()
    out["timestamp"] = stamp.decode()
    return out


def is_valid_symbol(symbol: object) -> bool:
    return isinstance(symbol, str) and bool(_VALID_SYMBOL.fullmatch(symbol))


def load_data(raw: bytes | str | None) -> dict[str, Any]:
    """A data field as a JSON object (bounded and total: `position_manager.wire`)."""
    if raw is None or raw == b"" or raw == "":
        raise InvalidEventError("missing envelope field: data")
    return load_json_object(entry_text({"data": raw})["data"])


def number(data: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    """A price: a plain ASCII decimal (string, Alpaca's form, or JSON number), above 0 and at
    most `MAX_PRICE` (`position_manager.amounts`)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEventError(f"missing field: {name}")
        return None
    return amounts.price(value, name)


def share_quantity(
    data: dict[str, Any], name: str, *, required: bool = True, allow_zero: bool = False
) -> Decimal | None:
    """A share quantity: plain ASCII decimal, positive (or non-negative), at most
    `MAX_QUANTITY`."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEventError(f"missing field: {name}")
        return None
    return amounts.quantity(value, name, allow_zero=allow_zero)


def short_text(data: dict[str, Any], name: str, limit: int = MAX_ID_CHARS) -> str | None:
    """An optional text field (an id, a type, a reason): a string of at most `limit`
    characters, or None when absent."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidEventError(f"{name} of {len(value)} characters: {quoted(value)}")
    return value


def timestamp(data: dict[str, Any], name: str = "timestamp") -> datetime:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"missing or non-text field: {name}")
    if len(value) > MAX_TIMESTAMP_CHARS:
        raise InvalidEventError(f"bad {name}: {quoted(value)}")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(f"bad {name}: {quoted(value)}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def symbol_of(data: dict[str, Any]) -> str:
    symbol = data.get("symbol")
    if not is_valid_symbol(symbol):
        raise InvalidEventError(f"unknown symbol: {quoted(symbol)}")
    return str(symbol)


def parse_quote(data: dict[str, Any]) -> Quote:
    """bid/ask required, positive, not crossed; price = last if given, else the mid."""
    symbol = symbol_of(data)
    bid = number(data, "bid")
    ask = number(data, "ask")
    assert bid is not None and ask is not None
    if bid > ask:
        raise InvalidEventError(f"{symbol}: crossed quote bid {bid} > ask {ask}")
    last = number(data, "last", required=False)
    price = last if last is not None else (bid + ask) / 2
    return Quote(symbol=symbol, price=price, timestamp=timestamp(data), bid=bid, ask=ask)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An `order.*` event's data (see position_manager/trade_updates.py for the producer side)."""

    symbol: str
    order_id: str
    client_order_id: str
    side: OrderSide
    order_type: str
    filled_qty: Decimal
    price: Decimal | None  # this fill's price (or the average when the update has none)
    position_qty: Decimal | None  # signed position after this update, when the broker says
    reason: str | None


def _signed_quantity(data: dict[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    return amounts.quantity(value, name, signed=True)


def parse_order_update(data: dict[str, Any]) -> OrderUpdate:
    symbol = symbol_of(data)
    order_id = short_text(data, "order_id")
    if order_id is None:
        raise InvalidEventError("missing field: order_id")
    side = _side(data)
    filled = share_quantity(data, "filled_qty", required=False, allow_zero=True) or Decimal(0)
    price = number(data, "price", required=False) or number(
        data, "filled_avg_price", required=False
    )
    reason = data.get("reason")
    return OrderUpdate(
        symbol=symbol,
        order_id=order_id,
        client_order_id=short_text(data, "client_order_id") or "",
        side=side,
        order_type=short_text(data, "order_type") or "",
        filled_qty=filled,
        price=price,
        position_qty=_signed_quantity(data, "position_qty"),
        reason=None if reason is None else printable(reason, MAX_REASON_CHARS),
    )


def _side(data: dict[str, Any]) -> OrderSide:
    side = data.get("side")
    if isinstance(side, str) and side.isascii() and side.lower() in _SIDES:
        return OrderSide(side.lower())
    raise InvalidEventError(f"bad side: {quoted(side)}")


@dataclass(frozen=True, slots=True)
class TradeApproval:
    symbol: str
    side: OrderSide
    qty: Decimal
    limit_price: Decimal | None
    approval_id: str


def parse_trade_approval(data: dict[str, Any]) -> TradeApproval:
    symbol = symbol_of(data)
    side = _side(data)
    qty = share_quantity(data, "qty")
    assert qty is not None
    approval_id = data.get("approval_id")
    if not isinstance(approval_id, str) or not _APPROVAL_ID.fullmatch(approval_id):
        raise InvalidEventError(f"bad approval_id: {quoted(approval_id)}")
    return TradeApproval(
        symbol, side, qty, number(data, "limit_price", required=False), approval_id
    )


def parse_session(data: dict[str, Any]) -> Session:
    session = data.get("session")
    # ASCII first: str.upper() folds other scripts into ASCII ("cloſed".upper() == "CLOSED").
    if isinstance(session, str) and session.isascii() and session.upper() in _SESSIONS:
        return Session(session.upper())
    raise InvalidEventError(f"unknown session: {quoted(session)}")


def parse_report_date(value: object) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value[:10]):
        raise InvalidEventError(f"report_date must be an ISO date, got {quoted(value)}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidEventError(f"bad report_date: {quoted(value)}") from None
