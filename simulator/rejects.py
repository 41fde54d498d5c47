"""Refusals seen on real Alpaca accounts that the instant lifecycle does not model.

From alpaca-notes "The order lifecycle is asynchronous" (rejections seen on real accounts) and
"Trading rules". The symbol and short-sale rules depend only on `EngineConfig` sets that are
empty by default, so they apply in both lifecycles; the rest apply in the realistic lifecycle:

- an unknown symbol is 422 / 40010001 `asset "X" not found`; a known but non-tradable one is
  403 / 40310000 `asset "X" is not tradable`;
- a short sale of a symbol in `not_shortable` is 403 / 40310000;
- opening a long while a short-opening sell is open (and the mirror) is 403 / 40310000;
- an order that could cross an open order of the same account on the other side is a potential
  wash trade: 422 / 42210000;
- a non-limit order with `extended_hours` is 422 / 40010001 "only type=limit is allowed";
- fractional quantities only on DAY market or limit orders (422 / 42210000);
- an order id that is not a UUID is 422 / 40010001.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from simulator.config import EngineConfig
from simulator.order_rules import FORBIDDEN, INVALID, UNPROCESSABLE, OrderSpec, SimApiError
from simulator.state import EngineState, SimOrder


def check_order_id(order_id: str) -> None:
    try:
        uuid.UUID(order_id)
    except ValueError:
        raise SimApiError(422, INVALID, f"invalid order ID: {order_id}") from None


def check_request(spec: OrderSpec) -> None:
    """Realistic-only rules on the request alone."""
    if spec.extended_hours and spec.type != "limit":
        raise SimApiError(422, INVALID, "only type=limit is allowed for extended hours orders")
    fractional = spec.qty != spec.qty.to_integral_value()
    if fractional and spec.type not in ("market", "limit"):
        raise SimApiError(422, UNPROCESSABLE, "fractional orders must be market or limit orders")


def _opens(side: str, position_qty: Decimal) -> bool:
    """Whether an order on `side` opens (or adds to) exposure against the position."""
    return (side == "buy" and position_qty >= 0) or (side == "sell" and position_qty <= 0)


def _crossing_price(order: SimOrder | OrderSpec) -> Decimal | None:
    """The price an order would trade at (None: market, it crosses anything)."""
    return order.limit_price


class Rejects:
    def __init__(self, state: EngineState, config: EngineConfig) -> None:
        self.state = state
        self.config = config

    def check_asset(self, spec: OrderSpec) -> None:
        """Both lifecycles: the asset exists, is tradable, and may be shorted."""
        known = self.config.tradable_symbols
        if known is not None and spec.symbol not in known | self.config.not_tradable:
            raise SimApiError(422, INVALID, f'asset "{spec.symbol}" not found')
        if spec.symbol in self.config.not_tradable:
            raise SimApiError(403, FORBIDDEN, f'asset "{spec.symbol}" is not tradable')
        position = self.state.book.positions.get(spec.symbol)
        qty = position.qty if position else Decimal(0)
        if spec.side == "sell" and spec.symbol in self.config.not_shortable and spec.qty > qty:
            raise SimApiError(403, FORBIDDEN, f'asset "{spec.symbol}" cannot be sold short')

    def check_book(self, spec: OrderSpec) -> None:
        """Realistic only: conflicts with the account's own open orders."""
        book = self.state.book
        position = book.positions.get(spec.symbol)
        qty = position.qty if position else Decimal(0)
        others = [
            book.orders[oid]
            for oid in self.state.open_by_symbol.get(spec.symbol, ())
            if book.orders[oid].side != spec.side
            and not (book.orders[oid].status == "pending_new" and book.orders[oid].replaces)
        ]
        if _opens(spec.side, qty):
            for other in others:
                if _opens(other.side, qty):
                    if spec.side == "buy":
                        message = "cannot open a long buy while a short sell order is open"
                    else:
                        message = "cannot open a short sell while a long buy order is open"
                    raise SimApiError(403, FORBIDDEN, message)
        mine = _crossing_price(spec)
        for other in others:
            if other.type not in ("market", "limit") and not other.triggered:
                continue  # an unelected stop rests off the book
            theirs = _crossing_price(other)
            if mine is None or theirs is None:
                crosses = True
            elif spec.side == "buy":
                crosses = mine >= theirs
            else:
                crosses = mine <= theirs
            if crosses:
                raise SimApiError(
                    422, UNPROCESSABLE, "potential wash trade detected. use complex orders"
                )
