"""alpaca-py models -> `broker.types` records, and alpaca-py/requests failures -> `broker.errors`.

Prices and quantities become `Decimal` from the broker's strings (floats via `str`, never binary),
so the rules never see a float. Errors are read from Alpaca's JSON body
(`{"code": 40310000, "message": ..., "held_for_orders": ...}`); a non-JSON body maps by status.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.models import Bar as AlpacaBar
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.models import Calendar, Order, Position, TradeAccount
from alpaca.trading.models import Clock as AlpacaClock
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest

from broker.errors import (
    BrokerError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientBuyingPowerError,
    InsufficientQuantityError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
)
from position_manager.broker_types import (
    Account,
    Bar,
    BrokerOrder,
    BrokerPosition,
    Clock,
    FillActivity,
    OrderKind,
    OrderRequest,
    OrderSide,
    TimeInForce,
    TradingDay,
)
from rules.ticks import round_to_tick

NEW_YORK = ZoneInfo("America/New_York")
_REQUESTED = re.compile(r"requested:\s*([-\d.]+)")
_AVAILABLE = re.compile(r"available:\s*([-\d.]+)")


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def to_order(order: Order) -> BrokerOrder:
    kind = _enum_value(order.type or order.order_type)
    tif = _enum_value(order.time_in_force)
    return BrokerOrder(
        id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol or "",
        side=OrderSide(_enum_value(order.side)),
        kind=OrderKind(kind),
        qty=dec(order.qty),
        filled_qty=dec(order.filled_qty) or Decimal(0),
        status=_enum_value(order.status),
        # opg/cls/ioc/fok all end with the day; only gtc outlives it.
        time_in_force=TimeInForce.GTC if tif == "gtc" else TimeInForce.DAY,
        limit_price=dec(order.limit_price),
        stop_price=dec(order.stop_price),
        trail_percent=dec(order.trail_percent),
        filled_avg_price=dec(order.filled_avg_price),
        extended_hours=bool(order.extended_hours),
        created_at=order.created_at,
        replaced_by=str(order.replaced_by) if order.replaced_by else None,
        updated_at=order.updated_at,
    )


def _when(value: Any) -> datetime:
    text = str(value)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_fill_activity(raw: dict[str, Any]) -> FillActivity:
    """One FILL entry of `GET /v2/account/activities/FILL`, read from the JSON itself:
    alpaca-py's `TradeActivity` model holds prices and quantities as floats."""
    return FillActivity(
        id=str(raw["id"]),
        order_id=str(raw["order_id"]),
        symbol=str(raw["symbol"]),
        side=OrderSide(str(raw["side"]).lower()),
        qty=dec(raw.get("qty")) or Decimal(0),
        cum_qty=dec(raw.get("cum_qty")) or Decimal(0),
        leaves_qty=dec(raw.get("leaves_qty")) or Decimal(0),
        price=dec(raw.get("price")) or Decimal(0),
        transaction_time=_when(raw["transaction_time"]),
        order_status=str(raw.get("order_status") or ""),
        kind=str(raw.get("type") or "fill"),
    )


def to_position(position: Position) -> BrokerPosition:
    return BrokerPosition(
        symbol=position.symbol,
        qty=dec(position.qty) or Decimal(0),
        avg_entry_price=dec(position.avg_entry_price) or Decimal(0),
        current_price=dec(position.current_price),
        market_value=dec(position.market_value),
        unrealized_pl=dec(position.unrealized_pl),
        qty_available=dec(position.qty_available),
    )


def to_account(account: TradeAccount) -> Account:
    return Account(
        id=str(account.id),
        status=_enum_value(account.status),
        cash=dec(account.cash) or Decimal(0),
        equity=dec(account.equity) or Decimal(0),
        buying_power=dec(account.buying_power) or Decimal(0),
        last_equity=dec(account.last_equity),
    )


def to_clock(clock: AlpacaClock) -> Clock:
    return Clock(clock.timestamp, clock.is_open, clock.next_open, clock.next_close)


def _new_york(value: datetime) -> datetime:
    """alpaca-py parses the calendar's "09:30" into a naive datetime: it is New York time."""
    return value.replace(tzinfo=NEW_YORK) if value.tzinfo is None else value


def to_trading_day(day: Calendar) -> TradingDay:
    return TradingDay(day.date, _new_york(day.open), _new_york(day.close))


def to_bar(bar: AlpacaBar) -> Bar:
    return Bar(
        symbol=bar.symbol,
        timestamp=bar.timestamp,
        open=Decimal(str(bar.open)),
        high=Decimal(str(bar.high)),
        low=Decimal(str(bar.low)),
        close=Decimal(str(bar.close)),
        volume=Decimal(str(bar.volume)),
    )


# --- errors ----------------------------------------------------------------------------------
def _body(exc: APIError) -> dict[str, Any]:
    try:
        body = json.loads(str(exc))
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def map_error(
    exc: BaseException, *, symbol: str | None = None, order_id: str | None = None
) -> BrokerError:
    """The typed error for anything alpaca-py or requests raised (already typed: unchanged)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, requests.Timeout):
        return BrokerUnavailableError(
            f"broker timed out ({type(exc).__name__})", symbol=symbol, order_id=order_id
        )
    if isinstance(exc, requests.ConnectionError):
        return BrokerUnavailableError(
            "cannot reach the broker (connection failed)", symbol=symbol, order_id=order_id
        )
    if not isinstance(exc, APIError):
        return BrokerError(
            f"unexpected broker failure: {type(exc).__name__}: {exc}",
            symbol=symbol,
            order_id=order_id,
        )
    status = exc.status_code
    body = _body(exc)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or str(exc)[:200] or f"HTTP {status}")
    detail = f"{message} (HTTP {status}, code {code})"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "symbol": symbol,
        "order_id": order_id,
    }
    lowered = message.lower()
    if status == 429:
        return RateLimitedError(f"broker rate limit: {detail}", **kwargs)
    if status is None or status >= 500:
        return BrokerUnavailableError(f"broker error: {detail}", **kwargs)
    if status == 404:
        return OrderNotFoundError(f"not found: {detail}", **kwargs)
    if status == 403 and ("insufficient qty" in lowered or "held_for_orders" in body):
        requested = _REQUESTED.search(message)
        available = dec(body.get("available"))
        if available is None and (found := _AVAILABLE.search(message)):
            available = dec(found.group(1))
        return InsufficientQuantityError(
            f"{detail}; shares are held by open orders: shrink or cancel them first",
            requested=dec(requested.group(1)) if requested else None,
            available=available,
            held_for_orders=dec(body.get("held_for_orders")),
            **kwargs,
        )
    if status == 403 and "buying power" in lowered:
        return InsufficientBuyingPowerError(f"{detail}; add funds or reduce size", **kwargs)
    if "client_order_id must be unique" in lowered:
        return DuplicateClientOrderIdError(f"order exists already: {detail}", **kwargs)
    if status == 401:
        return BrokerError(f"broker refused the credentials: {detail}", **kwargs)
    return OrderRejectedError(f"rejected: {detail}", **kwargs)


def price_to_tick(value: Decimal | None) -> float | None:
    """Round to the tick ($0.01 at/above $1, $0.0001 below) before sending: Alpaca rejects
    sub-penny prices with 422."""
    return None if value is None else float(round_to_tick(value))


def to_alpaca_request(request: OrderRequest) -> AlpacaOrderRequest:
    common: dict[str, Any] = {
        "symbol": request.symbol,
        "qty": float(request.qty),
        "side": AlpacaSide(request.side.value),
        "time_in_force": AlpacaTif(request.time_in_force.value),
        "client_order_id": request.client_order_id,
        "extended_hours": request.extended_hours or None,
    }
    kind = request.kind
    if kind is OrderKind.MARKET:
        return MarketOrderRequest(**common)
    if kind is OrderKind.LIMIT:
        return LimitOrderRequest(
            limit_price=price_to_tick(_need(request.limit_price, request)), **common
        )
    if kind is OrderKind.STOP:
        return StopOrderRequest(
            stop_price=price_to_tick(_need(request.stop_price, request)), **common
        )
    if kind is OrderKind.STOP_LIMIT:
        return StopLimitOrderRequest(
            stop_price=price_to_tick(_need(request.stop_price, request)),
            limit_price=price_to_tick(_need(request.limit_price, request)),
            **common,
        )
    return TrailingStopOrderRequest(
        trail_percent=float(_need(request.trail_percent, request)), **common
    )


def _need(value: Decimal | None, request: OrderRequest) -> Decimal:
    if value is None:
        raise OrderRejectedError(
            f"{request.kind.value} order for {request.symbol} is missing its price "
            f"(client_order_id {request.client_order_id})",
            symbol=request.symbol,
        )
    return value
