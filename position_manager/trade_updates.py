"""One mapping from an Alpaca trade update to our `order.*` event, for every producer.

Alpaca's `trade_updates` stream sends ``{"event", "timestamp", "order": {...}, "price", "qty",
"position_qty"}``. The live bridge (worker) and the simulator both call `order_event` so the worker
reads the same event names and data shape whichever broker is behind them. It is a kernel module
(it needs only `position_manager.events`) so the simulator can use it without importing `broker`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from position_manager import events

# Alpaca trade-update event -> our event name. Events not listed (pending_new, calculated, ...)
# are intermediate states the worker does not act on. pending_cancel / pending_replace are
# published (the order can still fill until the request lands); the worker may ignore them.
EVENT_NAMES: Final[dict[str, str]] = {
    "new": events.ORDER_NEW,
    "fill": events.ORDER_FILLED,
    "partial_fill": events.ORDER_PARTIALLY_FILLED,
    "canceled": events.ORDER_CANCELED,
    "replaced": events.ORDER_REPLACED,
    "expired": events.ORDER_EXPIRED,
    "rejected": events.ORDER_FAILED,
    "pending_cancel": events.ORDER_PENDING_CANCEL,
    "pending_replace": events.ORDER_PENDING_REPLACE,
    # Not a failed order: the request failed and the order it names lives on (or filled).
    "order_replace_rejected": events.ORDER_REPLACE_REJECTED,
    "order_cancel_rejected": events.ORDER_CANCEL_REJECTED,
}


def _text(value: Any) -> str | None:
    """Numbers travel as strings (Alpaca's own form) so no precision is lost."""
    if value is None or value == "":
        return None
    return str(value)


def order_event(update: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(event name, data) for a trade update, or None when the update is not one we publish.

    Data keys: order_id, client_order_id, symbol, side, order_type, qty (the order's), filled_qty
    (so far), filled_avg_price, price and fill_qty (this fill's; None unless a fill),
    position_qty (after the fill), status, timestamp,
    and reason (failures), replaced_by / replaces (replacements) when known.
    """
    name = EVENT_NAMES.get(str(update.get("event", "")))
    if name is None:
        return None
    order: Mapping[str, Any] = update.get("order") or {}
    timestamp = update.get("timestamp")
    data: dict[str, Any] = {
        "order_id": _text(order.get("id")),
        "client_order_id": _text(order.get("client_order_id")),
        "symbol": _text(order.get("symbol")),
        "side": _text(order.get("side")),
        "order_type": _text(order.get("order_type") or order.get("type")),
        "qty": _text(order.get("qty")),
        "filled_qty": _text(order.get("filled_qty")) or "0",
        "filled_avg_price": _text(order.get("filled_avg_price")),
        "price": _text(update.get("price")),
        "fill_qty": _text(update.get("qty")),
        "position_qty": _text(update.get("position_qty")),
        "status": _text(order.get("status")),
        "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp,
    }
    for key in ("replaced_by", "replaces"):
        if order.get(key):
            data[key] = str(order[key])
    if name in (events.ORDER_FAILED, events.ORDER_REPLACE_REJECTED, events.ORDER_CANCEL_REJECTED):
        data["reason"] = (
            update.get("reason") or order.get("reject_reason") or update.get("event") or "rejected"
        )
    return name, data
