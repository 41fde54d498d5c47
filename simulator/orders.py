"""The order desk: submit, replace, cancel, close and look up orders, with Alpaca's rules.

- Open sell orders (stops included) reserve shares; a sell beyond the rest is refused with 403 /
  40310000 and `held_for_orders` (buy-to-cover orders against a short likewise): `AccountRules`.
- A client_order_id is unique forever, even after the order is cancelled.
- DAY orders expire at the end of their session; a new or replaced order is offered to the
  `Matcher` at once, and every refusal is published as a `rejected` trade update.

`OrderDesk` works on the shared `EngineState` under its lock. With a `Lifecycle` (the realistic
lifecycle) submit, cancel and replace answer at once and their effects land later; without one
("instant": for unit tests only; not how Alpaca behaves) everything happens inside the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from position_manager.market_calendar import day_end_for
from simulator.account import AccountRules
from simulator.lifecycle import Lifecycle, buy_stop_collar
from simulator.matching import Matcher
from simulator.order_rules import (
    INVALID,
    NOT_FOUND,
    UNPROCESSABLE,
    OrderSpec,
    SimApiError,
    check_spec,
    decimal_field,
    parse_order,
)
from simulator.rejects import Rejects, check_order_id, check_request
from simulator.state import EngineState, SimBook, SimOrder
from simulator.updates import TradeUpdates


def _position_intent(side: str, position_qty: Decimal) -> str:
    if side == "buy":
        return "buy_to_close" if position_qty < 0 else "buy_to_open"
    return "sell_to_close" if position_qty > 0 else "sell_to_open"


class OrderDesk:
    def __init__(
        self,
        state: EngineState,
        account: AccountRules,
        matcher: Matcher,
        updates: TradeUpdates,
        rejects: Rejects | None = None,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.state = state
        self.account = account
        self.matcher = matcher
        self.updates = updates
        self.rejects = rejects
        self.lifecycle = lifecycle

    @property
    def book(self) -> SimBook:
        return self.state.book

    def _order_ts(self) -> datetime:
        """Strictly increasing submission times, even on a frozen clock, so `after` paging
        never meets two orders at the same instant."""
        now = self.state.clock.now()
        last = self.book.last_order_ts
        if last is not None and now <= last:
            now = last + timedelta(microseconds=1)
        self.book.last_order_ts = now
        return now

    def _reject(self, spec_or_payload: OrderSpec | dict[str, Any], error: SimApiError) -> None:
        """Publish the refusal as a `rejected` trade update so the worker sees it as an event."""
        if isinstance(spec_or_payload, OrderSpec):
            spec = spec_or_payload
            body = {
                "id": None,
                "client_order_id": spec.client_order_id,
                "symbol": spec.symbol,
                "side": spec.side,
                "type": spec.type,
                "qty": format(spec.qty, "f"),
                "filled_qty": "0",
                "status": "rejected",
            }
        else:
            body = {**spec_or_payload, "id": None, "status": "rejected"}
        self.updates.emit("rejected", body, reason=error.message)

    # --- orders ----------------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> SimOrder:
        with self.state.lock:
            self.matcher.tick()
            realistic = self.lifecycle is not None
            try:
                if realistic:
                    kind = payload.get("type") or payload.get("order_type")
                    extended = payload.get("extended_hours") in (True, "true", "True")
                    if extended and kind != "limit":
                        raise SimApiError(
                            422, INVALID, "only type=limit is allowed for extended hours orders"
                        )
                spec = parse_order(payload)
                if realistic:
                    check_request(spec)
            except SimApiError as error:
                self._reject({k: payload.get(k) for k in ("client_order_id", "symbol")}, error)
                raise
            if spec.client_order_id in self.book.client_ids:
                raise SimApiError(422, INVALID, "client_order_id must be unique")
            try:
                if self.rejects is not None:
                    self.rejects.check_asset(spec)
                self.account.check(spec)
                if self.rejects is not None and realistic:
                    self.rejects.check_book(spec)
            except SimApiError as error:
                self._reject(spec, error)
                raise
            if self.lifecycle is not None:
                spec = self.lifecycle.convert(spec)
            order = self._create(spec)
            self.matcher.try_fill(order)
            self.updates.changed()
            return order

    def _create(self, spec: OrderSpec, replaces: str | None = None) -> SimOrder:
        now = self._order_ts()
        order = SimOrder(
            id=str(uuid.uuid4()),
            client_order_id=spec.client_order_id,
            symbol=spec.symbol,
            side=spec.side,
            type=spec.type,
            time_in_force=spec.time_in_force,
            qty=spec.qty,
            status="new",
            created_at=now,
            updated_at=now,
            submitted_at=now,
            extended_hours=spec.extended_hours,
            limit_price=spec.limit_price,
            stop_price=spec.stop_price,
            trail_percent=spec.trail_percent,
            trail_price=spec.trail_price,
            replaces=replaces,
        )
        position = self.book.positions.get(spec.symbol)
        held = position.qty if position else Decimal(0)
        order.position_intent = _position_intent(spec.side, held)
        if order.time_in_force == "day":
            order.expires_at = day_end_for(now, order.extended_hours)
        if order.type == "trailing_stop":
            self.matcher.trail(order, self.book.quotes.get(order.symbol))
        if self.lifecycle is not None:
            self.lifecycle.created(order)  # new / accepted / pending_new; emits `new` if new
        self.book.orders[order.id] = order
        self.book.client_ids[order.client_order_id] = order.id
        self.state.index(order)
        if self.lifecycle is None:
            self.updates.emit("new", order)
        return order

    def get_order(self, order_id: str) -> SimOrder:
        if self.lifecycle is not None:
            check_order_id(order_id)
            # What is due lands whoever looks: at Alpaca a cancel lands on its own time.
            with self.state.lock:
                self.matcher.tick()
        order = self.book.orders.get(order_id)
        if order is None:
            raise SimApiError(404, NOT_FOUND, "order not found")
        return order

    def get_by_client_id(self, client_order_id: str) -> SimOrder:
        order_id = self.book.client_ids.get(client_order_id)
        if order_id is None:
            raise SimApiError(404, NOT_FOUND, "order not found")
        return self.book.orders[order_id]

    def replace(self, order_id: str, payload: dict[str, Any]) -> SimOrder:
        """PATCH: a new order with the changes; the old one becomes `replaced`."""
        with self.state.lock:
            self.matcher.tick()
            old = self.get_order(order_id)
            if not old.is_open or old.triggered:
                raise SimApiError(422, UNPROCESSABLE, "order is not replaceable")
            qty = decimal_field(payload, "qty")
            if qty is not None and (qty <= 0 or qty != qty.to_integral_value()):
                raise SimApiError(422, INVALID, "qty must be a positive whole number")
            trail = decimal_field(payload, "trail")
            client_order_id = payload.get("client_order_id") or str(uuid.uuid4())
            if client_order_id in self.book.client_ids:
                raise SimApiError(422, INVALID, "client_order_id must be unique")
            spec = OrderSpec(
                symbol=old.symbol,
                side=old.side,
                type=old.type,
                time_in_force=payload.get("time_in_force") or old.time_in_force,
                qty=qty if qty is not None else old.qty,
                client_order_id=client_order_id,
                extended_hours=old.extended_hours,
                limit_price=decimal_field(payload, "limit_price") or old.limit_price,
                stop_price=decimal_field(payload, "stop_price") or old.stop_price,
                trail_percent=trail if trail and old.trail_percent else old.trail_percent,
                trail_price=trail if trail and old.trail_price else old.trail_price,
            )
            if old.type == "trailing_stop":
                spec = replace(spec, stop_price=None)
            if self.lifecycle is not None:
                return self._replace_realistic(old, spec, payload, self.lifecycle)
            check_spec(spec)
            self.account.check(spec, ignore_order=old.id)
            now = self.state.clock.now()
            old.status, old.updated_at, old.replaced_at = "replaced", now, now
            self.state.index(old)
            new = self._create(spec, replaces=old.id)
            old.replaced_by = new.id
            self.updates.emit("replaced", old)
            self.matcher.try_fill(new)
            self.updates.changed()
            return new

    def _replace_realistic(
        self, old: SimOrder, spec: OrderSpec, payload: dict[str, Any], lifecycle: Lifecycle
    ) -> SimOrder:
        """The old order goes `pending_replace` (still fillable); the answer is the new order,
        `pending_new` until the replacement lands (`Lifecycle.process`)."""
        collared = (
            old.side == "buy"
            and old.type == "stop_limit"
            and old.stop_price is not None
            and old.limit_price == buy_stop_collar(old.stop_price)
        )
        if collared and spec.stop_price is not None and payload.get("limit_price") is None:
            spec = replace(spec, limit_price=buy_stop_collar(spec.stop_price))
        lifecycle.check_replaceable(old, spec)
        check_spec(spec)
        self.account.check(spec, ignore_order=old.id)
        new = self._create(spec, replaces=old.id)
        lifecycle.request_replace(old, new)
        self.updates.changed()
        return new

    def cancel(self, order_id: str) -> None:
        with self.state.lock:
            self.matcher.tick()
            order = self.get_order(order_id)
            if self.lifecycle is not None:
                self.lifecycle.request_cancel(order)
                self.updates.changed()
                return
            if not order.is_open:
                raise SimApiError(422, UNPROCESSABLE, f"order is {order.status}, not cancelable")
            now = self.state.clock.now()
            order.status, order.canceled_at, order.updated_at = "canceled", now, now
            self.state.index(order)
            self.updates.emit("canceled", order)
            self.updates.changed()

    def close_position(
        self, symbol: str, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> SimOrder:
        """DELETE /v2/positions/{symbol}: a market order for all of it, `qty` or `percentage`."""
        with self.state.lock:
            position = self.book.positions.get(symbol)
            if position is None:
                raise SimApiError(404, NOT_FOUND, "position does not exist")
            if percentage is not None:
                qty = (abs(position.qty) * percentage / 100).quantize(Decimal("0.000000001"))
            payload = {
                "symbol": symbol,
                "qty": format(qty if qty is not None else abs(position.qty), "f"),
                "side": "sell" if position.qty > 0 else "buy",
                "type": "market",
                "time_in_force": "day",
            }
            return self.submit(payload)

    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        symbols: Iterable[str] | None = None,
        side: str | None = None,
    ) -> list[SimOrder]:
        with self.state.lock:
            self.matcher.tick()
            wanted = set(symbols) if symbols else None
            if status == "open":
                pool: Iterable[SimOrder] = sorted(
                    (
                        self.book.orders[oid]
                        for sym, ids in self.state.open_by_symbol.items()
                        if wanted is None or sym in wanted
                        for oid in ids
                    ),
                    key=lambda o: o.submitted_at,
                )
            else:
                pool = self.book.orders.values()  # insertion order == submission order
            out = [
                o
                for o in pool
                if (status == "all" or (status == "open") == o.is_open)
                and (wanted is None or o.symbol in wanted)
                and (side is None or o.side == side)
                and (after is None or o.submitted_at > after)
                and (until is None or o.submitted_at < until)
            ]
            if direction == "desc":
                out.reverse()
            return out[:limit]
