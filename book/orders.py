"""Turning one decision into one broker call, idempotently.

`submit_order` is idempotent by client order id (the adapter returns the existing order on a
duplicate). A replace is made idempotent here: if the PATCH fails because the old order is gone
(already replaced by this very decision before a crash), the order carrying the decision's client
id is looked up and adopted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from broker.errors import BrokerError, OrderNotFoundError, OrderRejectedError
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


@dataclass(frozen=True, slots=True)
class ConfirmPrice:
    """Ask the broker for its latest trade before acting on a quote that moved implausibly far
    (`rules.plausibility`): the quote is acted on only if the broker agrees."""

    symbol: str
    price: Decimal
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class VerifyOrder:
    """Ask the broker about an order update that names an order the book does not know, or a
    symbol it does not hold, before anything is done on it: the broker's order and position are
    acted on, never the message's own numbers (anyone who can write to the stream can send one).
    """

    symbol: str
    order_id: str
    client_order_id: str


Action = Decision | SubmitEntry | ConfirmPrice | VerifyOrder


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


def execute(broker: Broker, action: Decision | SubmitEntry) -> BrokerOrder | None:
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


class RequestNotLandedError(BrokerError):
    """A cancel or replace that did not land before the sale that needed its shares: the sale is
    not sent (it would be refused, 40310000, while the order still holds the shares)."""

    retryable = True


class FilledBeforeReplaceError(BrokerError):
    """The replaced order filled before its replacement landed (the replacement is rejected):
    the sale that was to follow is not sent."""


class FilledBeforeCancelError(BrokerError):
    """The order filled while its cancel was pending: the shares it held are sold already, so
    the sale that was to follow is not sent (it would oversell, or flip the position)."""


def await_cancel(
    broker: Broker,
    order_id: str,
    *,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait (on an order thread, never the quote loop) until a cancelled order is no longer
    open. A cancel answers 204 at once, but the order stays `pending_cancel`, still holding its
    shares and still able to fill, until the cancel lands."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            order = broker.get_order(order_id)
        except OrderNotFoundError:
            return
        if order.filled_qty > 0:
            raise FilledBeforeCancelError(
                f"order {order_id} filled {order.filled_qty} while its cancel was pending"
            )
        if not order.is_open:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise RequestNotLandedError(f"cancel of {order_id} has not landed after {timeout:.0f}s")
        sleep(min(pause, left))
        pause = min(pause * 2, 1.0)


def await_replacement(
    broker: Broker,
    replacement: BrokerOrder,
    *,
    timeout: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until a replacement lands. Until then the order it replaces still holds its shares
    (a sale beside it is refused) and may still fill (then the replacement is rejected and the
    sale must not be sent)."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    order = replacement
    while order.status == "pending_new":
        left = deadline - time.monotonic()
        if left <= 0:
            raise RequestNotLandedError(
                f"replacement {replacement.id} has not landed after {timeout:.0f}s"
            )
        sleep(min(pause, left))
        pause = min(pause * 2, 1.0)
        order = broker.get_order(replacement.id)
    if order.status == "rejected":
        raise FilledBeforeReplaceError(
            f"the order replaced by {replacement.id} filled before the replacement landed"
        )
