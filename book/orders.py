"""Turning one decision into one broker call, idempotently.

`submit_order` is idempotent by client order id (the adapter returns the existing order on a
duplicate). A replace is made idempotent here: if the PATCH fails because the old order is gone
(already replaced by this very decision before a crash), the order carrying the decision's client
id is looked up and adopted.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal

from broker.errors import OrderNotFoundError, OrderRejectedError
from broker.interface import Broker
from position_manager.broker_types import (
    BrokerOrder,
    OrderKind,
    OrderRequest,
    OrderSide,
    TimeInForce,
)
from rules.decisions import CancelOrder, Decision, PlaceStop, ReplaceStop, SubmitExit


@dataclass(frozen=True, slots=True)
class SubmitEntry:
    """Open (or add to) a position for an approved trade: `risk.trade_approved`."""

    symbol: str
    side: OrderSide
    qty: Decimal
    limit_price: Decimal | None
    extended_hours: bool
    client_order_id: str
    approval_id: str


Action = Decision | SubmitEntry


def order_request(action: PlaceStop | SubmitExit | SubmitEntry) -> OrderRequest:
    if isinstance(action, PlaceStop):
        return OrderRequest(
            symbol=action.symbol,
            side=action.side,
            qty=action.qty,
            kind=OrderKind.STOP,
            client_order_id=action.client_order_id,
            time_in_force=TimeInForce.GTC,
            stop_price=action.stop_price,
        )
    if isinstance(action, SubmitExit):
        return OrderRequest(
            symbol=action.symbol,
            side=action.side,
            qty=action.qty,
            kind=OrderKind.LIMIT if action.order_type == "limit" else OrderKind.MARKET,
            client_order_id=action.client_order_id,
            time_in_force=action.time_in_force,
            limit_price=action.limit_price,
            extended_hours=action.extended_hours,
        )
    return OrderRequest(
        symbol=action.symbol,
        side=action.side,
        qty=action.qty,
        kind=OrderKind.LIMIT if action.limit_price is not None else OrderKind.MARKET,
        client_order_id=action.client_order_id,
        time_in_force=TimeInForce.DAY,
        limit_price=action.limit_price,
        extended_hours=action.extended_hours,
    )


def execute(broker: Broker, action: Action) -> BrokerOrder | None:
    """Run one action; return the resulting order (None for a cancel). Raises typed broker
    errors (broker/errors.py) for the caller to act on."""
    if isinstance(action, ReplaceStop):
        try:
            return broker.replace_order(
                action.order_id,
                qty=action.qty,
                stop_price=action.stop_price,
                client_order_id=action.client_order_id,
            )
        except (OrderNotFoundError, OrderRejectedError):
            existing = broker.get_order_by_client_id(action.client_order_id)
            if existing is not None and existing.is_open:
                return existing
            raise
    if isinstance(action, CancelOrder):
        with contextlib.suppress(OrderNotFoundError):  # already gone: what we wanted
            broker.cancel_order(action.order_id)
        return None
    return broker.submit_order(order_request(action))
