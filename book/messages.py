"""Validating what arrives on the streams: typed records out, `InvalidEventError` with a reason.

The quote path is the hot one. `quote_symbol` pulls the symbol out of the raw JSON bytes with one
regex search, so a quote for a symbol we do not hold (4,980 of 5,000) is dropped after a dict
lookup, before any JSON or number is parsed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from position_manager.broker_types import OrderSide
from position_manager.errors import InvalidEventError
from position_manager.session import Session
from rules.model import Quote

_SYMBOL_IN_JSON: Final = re.compile(rb'"symbol"\s*:\s*"([^"\\]{0,40})"')
_VALID_SYMBOL: Final = re.compile(r"^[A-Z][A-Z0-9]{0,9}([./-][A-Z0-9]{1,5})?$")


def quote_symbol(data: bytes) -> bytes | None:
    """The symbol of a quote's JSON data, without parsing it (None: not found, parse fully)."""
    match = _SYMBOL_IN_JSON.search(data)
    return match.group(1) if match else None


def is_valid_symbol(symbol: object) -> bool:
    return isinstance(symbol, str) and bool(_VALID_SYMBOL.match(symbol))


def load_data(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None or raw == b"" or raw == "":
        raise InvalidEventError("missing envelope field: data")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"data is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEventError("data must be a JSON object")
    return data


def number(data: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    """A positive finite price/quantity; JSON numbers or numeric strings (Alpaca's form)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEventError(f"missing field: {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEventError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventError(f"{name} is not finite: {value!r}")
    try:
        result = Decimal(str(value).strip())
    except ArithmeticError:
        raise InvalidEventError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise InvalidEventError(f"{name} is not finite: {value!r}")
    if result <= 0:
        raise InvalidEventError(f"{name} must be positive, got {value!r}")
    return result


def timestamp(data: dict[str, Any], name: str = "timestamp") -> datetime:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"missing or non-text field: {name}")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(f"bad {name}: {value!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def symbol_of(data: dict[str, Any]) -> str:
    symbol = data.get("symbol")
    if not is_valid_symbol(symbol):
        raise InvalidEventError(f"unknown symbol: {symbol!r}")
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


def _signed_decimal(data: dict[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidEventError(f"{name} must be a number, got {type(value).__name__}")
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise InvalidEventError(f"{name} is not a number: {value!r}") from None
    if not result.is_finite():
        raise InvalidEventError(f"{name} is not finite: {value!r}")
    return result


def parse_order_update(data: dict[str, Any]) -> OrderUpdate:
    symbol = symbol_of(data)
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidEventError("missing field: order_id")
    try:
        side = OrderSide(str(data.get("side", "")).lower())
    except ValueError:
        raise InvalidEventError(f"bad side: {data.get('side')!r}") from None
    filled = _signed_decimal(data, "filled_qty") or Decimal(0)
    if filled < 0:
        raise InvalidEventError(f"filled_qty must not be negative, got {filled}")
    price = number(data, "price", required=False) or number(
        data, "filled_avg_price", required=False
    )
    reason = data.get("reason")
    return OrderUpdate(
        symbol=symbol,
        order_id=order_id,
        client_order_id=str(data.get("client_order_id") or ""),
        side=side,
        order_type=str(data.get("order_type") or ""),
        filled_qty=filled,
        price=price,
        position_qty=_signed_decimal(data, "position_qty"),
        reason=str(reason) if reason is not None else None,
    )


@dataclass(frozen=True, slots=True)
class TradeApproval:
    symbol: str
    side: OrderSide
    qty: Decimal
    limit_price: Decimal | None
    approval_id: str


def parse_trade_approval(data: dict[str, Any]) -> TradeApproval:
    symbol = symbol_of(data)
    try:
        side = OrderSide(str(data.get("side", "")).lower())
    except ValueError:
        raise InvalidEventError(f"bad side: {data.get('side')!r}") from None
    qty = number(data, "qty")
    assert qty is not None
    approval_id = data.get("approval_id")
    if not isinstance(approval_id, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", approval_id):
        raise InvalidEventError(f"bad approval_id: {approval_id!r}")
    return TradeApproval(
        symbol, side, qty, number(data, "limit_price", required=False), approval_id
    )


def parse_session(data: dict[str, Any]) -> Session:
    try:
        return Session(str(data.get("session", "")).upper())
    except ValueError:
        raise InvalidEventError(f"unknown session: {data.get('session')!r}") from None


def parse_report_date(value: object) -> date:
    if not isinstance(value, str):
        raise InvalidEventError(f"report_date must be an ISO date, got {value!r}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidEventError(f"bad report_date: {value!r}") from None
