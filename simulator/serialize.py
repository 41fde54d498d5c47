"""Alpaca's JSON shapes for the simulator's records (validated against the OpenAPI schemas in
tests, and parsed by alpaca-py's own models). Numbers are strings, as Alpaca sends them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from position_manager.market_calendar import NEW_YORK, MarketDay, market_day
from position_manager.sample_data import SAMPLE_BY_SYMBOL
from simulator.state import SimOrder, SimPosition

_ASSET_NAMESPACE = uuid.UUID("7d1b1c9e-2f7e-4a51-9a6f-6b2b8f0c1d11")


def num(value: Decimal | None) -> str | None:
    """Plain notation (never `1E+2`), as Alpaca writes numbers."""
    return None if value is None else format(value, "f")


def ts(value: datetime | None, fractional: bool = False) -> str | None:
    """`fractional`: always with microseconds, as real bodies carry (Alpaca sends nanoseconds;
    six digits is what every client parses)."""
    if value is None:
        return None
    text = value.isoformat(timespec="microseconds") if fractional else value.isoformat()
    return text.replace("+00:00", "Z")


def asset_id(symbol: str) -> str:
    """A stable asset id per symbol, so restarts and snapshots agree."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def exchange_of(symbol: str) -> str:
    spec = SAMPLE_BY_SYMBOL.get(symbol)
    return spec.exchange if spec else "NASDAQ"


def order_json(order: SimOrder, realistic: bool = False) -> dict[str, Any]:
    """The order body. `realistic` (the realistic lifecycle): the fields recent real bodies
    carry too (`position_intent`, `subtag`, `source`, `ratio_qty`, `order_class` ""),
    timestamps always with fractional seconds."""

    def t(value: datetime | None) -> str | None:
        return ts(value, fractional=realistic)

    body: dict[str, Any] = {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": t(order.created_at),
        "updated_at": t(order.updated_at),
        "submitted_at": t(order.submitted_at),
        "filled_at": t(order.filled_at),
        "expired_at": t(order.expired_at),
        "canceled_at": t(order.canceled_at),
        "failed_at": t(order.failed_at),
        "replaced_at": t(order.replaced_at),
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": asset_id(order.symbol),
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": num(order.qty),
        "filled_qty": num(order.filled_qty),
        "filled_avg_price": num(order.filled_avg_price),
        "order_class": "simple",
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "time_in_force": order.time_in_force,
        "limit_price": num(order.limit_price),
        "stop_price": num(order.stop_price),
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": None,
        "trail_percent": num(order.trail_percent),
        "trail_price": num(order.trail_price),
        "hwm": num(order.hwm),
    }
    if order.expires_at is not None:
        body["expires_at"] = t(order.expires_at)
    if realistic:
        body["order_class"] = ""
        body["position_intent"] = order.position_intent
        body["subtag"] = None
        body["source"] = None
        body["ratio_qty"] = None
    return body


def position_json(position: SimPosition, price: Decimal, held: Decimal) -> dict[str, Any]:
    """`held` is the quantity reserved by open closing orders (Alpaca's held_for_orders)."""
    qty = position.qty
    sign = Decimal(1) if qty > 0 else Decimal(-1)
    cost_basis = qty * position.avg_entry_price
    market_value = qty * price
    unrealized = market_value - cost_basis
    lastday = position.lastday_price or position.avg_entry_price
    intraday = (price - lastday) * qty
    return {
        "asset_id": asset_id(position.symbol),
        "symbol": position.symbol,
        "exchange": exchange_of(position.symbol),
        "asset_class": "us_equity",
        "asset_marginable": True,
        "avg_entry_price": num(position.avg_entry_price),
        "qty": num(qty),
        "qty_available": num(sign * (abs(qty) - held)),
        "side": "long" if qty > 0 else "short",
        "market_value": num(market_value),
        "cost_basis": num(cost_basis),
        "unrealized_pl": num(unrealized),
        "unrealized_plpc": num(_ratio(unrealized, abs(cost_basis))),
        "unrealized_intraday_pl": num(intraday),
        "unrealized_intraday_plpc": num(_ratio(intraday, abs(lastday * qty))),
        "current_price": num(price),
        "lastday_price": num(lastday),
        "change_today": num(_ratio(price - lastday, lastday)),
    }


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole).quantize(Decimal("0.0000001")) if whole else Decimal(0)


def clock_json(now: datetime, is_open: bool, next_open: datetime, next_close: datetime) -> dict:
    return {
        "timestamp": now.astimezone(NEW_YORK).isoformat(),
        "is_open": is_open,
        "next_open": next_open.astimezone(NEW_YORK).isoformat(),
        "next_close": next_close.astimezone(NEW_YORK).isoformat(),
    }


def calendar_json(day: MarketDay) -> dict[str, str]:
    settlement = day.date
    for _ in range(10):
        settlement = settlement.fromordinal(settlement.toordinal() + 1)
        if market_day(settlement) is not None:
            break
    return {
        "date": day.date.isoformat(),
        "open": day.open.astimezone(NEW_YORK).strftime("%H:%M"),
        "close": day.close.astimezone(NEW_YORK).strftime("%H:%M"),
        "session_open": day.pre_open.astimezone(NEW_YORK).strftime("%H%M"),
        "session_close": day.post_close.astimezone(NEW_YORK).strftime("%H%M"),
        "settlement_date": settlement.isoformat(),
    }
