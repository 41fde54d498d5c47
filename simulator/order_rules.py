"""Parse and check an order request the way Alpaca does, before it touches the book.

Codes follow Alpaca: 422 / 40010001 for malformed or duplicate requests, 422 / 42210000 for orders
the market rules forbid (sub-penny prices, extended hours on a non-limit or non-DAY order), 403 /
40310000 for quantity and buying-power shortfalls (raised by the engine, which knows the book).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

INVALID = 40010001
FORBIDDEN = 40310000
UNPROCESSABLE = 42210000
NOT_FOUND = 40410000
RATE_LIMITED = 42910000

ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"})
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
PENNY = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")


class SimApiError(Exception):
    """An error response: HTTP status plus Alpaca's JSON body `{"code", "message", ...}`."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


@dataclass(frozen=True, slots=True)
class OrderSpec:
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    client_order_id: str
    extended_hours: bool = False
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_price: Decimal | None = None


def decimal_field(payload: dict[str, Any], name: str) -> Decimal | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise SimApiError(422, INVALID, f"invalid {name}: {value!r}") from None
    if not result.is_finite():
        raise SimApiError(422, INVALID, f"invalid {name}: {value!r}")
    return plain(result)


def plain(value: Decimal) -> Decimal:
    """`45.0` as sent by a float-typed client becomes `45`, so quantities print as Alpaca's."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def tick_for(price: Decimal) -> Decimal:
    return PENNY if price >= 1 else SUB_PENNY


def check_tick(name: str, price: Decimal | None) -> None:
    if price is None:
        return
    if price <= 0:
        raise SimApiError(422, INVALID, f"{name} must be > 0")
    if price % tick_for(price) != 0:
        raise SimApiError(
            422, UNPROCESSABLE, "sub-penny increment does not fulfill minimum pricing criteria"
        )


def parse_order(payload: dict[str, Any]) -> OrderSpec:
    symbol = str(payload.get("symbol") or "").upper()
    if not _SYMBOL.match(symbol):
        raise SimApiError(422, INVALID, f'asset "{symbol}" not found')
    if payload.get("notional") is not None:
        raise SimApiError(422, INVALID, "notional orders are not supported by the simulator")
    qty = decimal_field(payload, "qty")
    if qty is None or qty <= 0:
        raise SimApiError(422, INVALID, "qty must be > 0")
    side = str(payload.get("side") or "")
    if side not in ("buy", "sell"):
        raise SimApiError(422, INVALID, f"invalid side: {side!r}")
    kind = str(payload.get("type") or payload.get("order_type") or "")
    if kind not in ORDER_TYPES:
        raise SimApiError(422, INVALID, f"invalid order type: {kind!r}")
    tif = str(payload.get("time_in_force") or "")
    if tif not in ("day", "gtc"):
        raise SimApiError(422, INVALID, f"time_in_force {tif!r} is not supported")
    client_order_id = str(payload.get("client_order_id") or uuid.uuid4())
    if len(client_order_id) > 128:
        raise SimApiError(422, INVALID, "client_order_id must be no more than 128 characters")
    extended = payload.get("extended_hours") in (True, "true", "True")
    spec = OrderSpec(
        symbol=symbol,
        side=side,
        type=kind,
        time_in_force=tif,
        qty=qty,
        client_order_id=client_order_id,
        extended_hours=extended,
        limit_price=decimal_field(payload, "limit_price"),
        stop_price=decimal_field(payload, "stop_price"),
        trail_percent=decimal_field(payload, "trail_percent"),
        trail_price=decimal_field(payload, "trail_price"),
    )
    check_spec(spec)
    return spec


def check_spec(spec: OrderSpec) -> None:
    """The market's rules for a well-formed order (no knowledge of the book needed)."""
    if spec.type in ("limit", "stop_limit") and spec.limit_price is None:
        raise SimApiError(422, INVALID, "limit_price is required for limit orders")
    if spec.type in ("stop", "stop_limit") and spec.stop_price is None:
        raise SimApiError(422, INVALID, "stop_price is required for stop orders")
    if spec.type == "trailing_stop" and (spec.trail_percent is None) == (spec.trail_price is None):
        raise SimApiError(
            422, INVALID, "trailing_stop orders need exactly one of trail_percent or trail_price"
        )
    if spec.trail_percent is not None and not 0 < spec.trail_percent < 100:
        raise SimApiError(422, INVALID, "trail_percent must be between 0 and 100")
    if spec.extended_hours and not (spec.type == "limit" and spec.time_in_force == "day"):
        raise SimApiError(422, UNPROCESSABLE, "extended hours order must be DAY limit orders")
    if spec.qty != spec.qty.to_integral_value() and spec.time_in_force != "day":
        raise SimApiError(422, UNPROCESSABLE, "fractional orders must be DAY orders")
    check_tick("limit_price", spec.limit_price)
    check_tick("stop_price", spec.stop_price)
