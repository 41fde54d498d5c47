"""The order book and matching engine: Alpaca's rules where a position manager feels them.

- Open sell orders (stops included) reserve shares; a sell beyond the rest is refused with 403 /
  40310000 and `held_for_orders` (buy-to-cover orders against a short likewise).
- A client_order_id is unique forever, even after the order is cancelled.
- Stops and trailing stops trigger only in the regular session; extended-hours orders are DAY
  limits and fill in PRE/POST; market orders wait for the regular session.
- Quotes drive fills: buys at the ask, sells at the bid (at most `partial_fill_qty` per quote).

Every state change is reported as an Alpaca-shaped trade update to `on_update` (the server turns
it into an `order.*` event) and marks the book dirty for the snapshot writer.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from position_manager.market_calendar import day_end_for
from position_manager.session import Session
from simulator.account import AccountMixin
from simulator.clock import SimClock
from simulator.matching import MatchingMixin
from simulator.order_rules import (
    INVALID,
    NOT_FOUND,
    UNPROCESSABLE,
    OrderSpec,
    SimApiError,
    check_spec,
    decimal_field,
    parse_order,
    tick_for,
)
from simulator.serialize import order_json
from simulator.state import SimBook, SimOrder, SimPosition, SimQuote

TradeUpdate = dict[str, Any]
_AVG_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    starting_cash: Decimal = Decimal("100000")
    # Reg-T style margin: buying power = max(equity - initial margin, 0) x multiplier.
    margin_multiplier: Decimal = Decimal("2")
    partial_fill_qty: Decimal | None = None  # at most this much fills per quote (None: all)


def new_book(config: EngineConfig, now: datetime) -> SimBook:
    return SimBook(
        account_id=str(uuid.uuid4()),
        account_number=f"PA{uuid.uuid4().int % 10**10:010d}",
        cash=config.starting_cash,
        created_at=now,
    )


class Engine(AccountMixin, MatchingMixin):
    """All mutations hold `lock`: HTTP handlers, the quote consumer and tests call concurrently."""

    def __init__(
        self,
        clock: SimClock,
        config: EngineConfig | None = None,
        book: SimBook | None = None,
        on_update: Callable[[TradeUpdate], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or EngineConfig()
        self.lock = threading.RLock()
        self.book = book or new_book(self.config, clock.now())
        self._on_update = on_update
        self._on_change = on_change
        self._open_by_symbol: dict[str, set[str]] = {}
        self._day_orders: set[str] = set()
        for order in self.book.orders.values():
            self._index(order)
        self._last_session: Session | None = None

    # --- bookkeeping ---------------------------------------------------------------------
    def _index(self, order: SimOrder) -> None:
        if order.is_open:
            self._open_by_symbol.setdefault(order.symbol, set()).add(order.id)
            if order.time_in_force == "day":
                self._day_orders.add(order.id)
        else:
            self._open_by_symbol.get(order.symbol, set()).discard(order.id)
            self._day_orders.discard(order.id)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _emit(self, event: str, order: SimOrder | dict[str, Any], **extra: Any) -> None:
        if self._on_update is None:
            return
        body = order_json(order) if isinstance(order, SimOrder) else order
        position = self.book.positions.get(str(body.get("symbol")))
        update: TradeUpdate = {
            "event": event,
            "timestamp": self.clock.now().isoformat(),
            "order": body,
            "position_qty": format(position.qty, "f") if position else "0",
            **{k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in extra.items()},
        }
        self._on_update(update)

    def _order_ts(self) -> datetime:
        """Strictly increasing submission times, even on a frozen clock, so `after` paging
        never meets two orders at the same instant."""
        now = self.clock.now()
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
        self._emit("rejected", body, reason=error.message)

    # --- orders ----------------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> SimOrder:
        with self.lock:
            self.tick()
            try:
                spec = parse_order(payload)
            except SimApiError as error:
                self._reject({k: payload.get(k) for k in ("client_order_id", "symbol")}, error)
                raise
            if spec.client_order_id in self.book.client_ids:
                raise SimApiError(422, INVALID, "client_order_id must be unique")
            try:
                self._check_book(spec)
            except SimApiError as error:
                self._reject(spec, error)
                raise
            order = self._create(spec)
            self._try_fill(order)
            self._changed()
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
        if order.time_in_force == "day":
            order.expires_at = day_end_for(now, order.extended_hours)
        if order.type == "trailing_stop":
            self._trail(order, self.book.quotes.get(order.symbol), initial=True)
        self.book.orders[order.id] = order
        self.book.client_ids[order.client_order_id] = order.id
        self._index(order)
        self._emit("new", order)
        return order

    def get_order(self, order_id: str) -> SimOrder:
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
        with self.lock:
            self.tick()
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
            check_spec(spec)
            self._check_book(spec, ignore_order=old.id)
            now = self.clock.now()
            old.status, old.updated_at, old.replaced_at = "replaced", now, now
            self._index(old)
            new = self._create(spec, replaces=old.id)
            old.replaced_by = new.id
            self._emit("replaced", old)
            self._try_fill(new)
            self._changed()
            return new

    def cancel(self, order_id: str) -> None:
        with self.lock:
            self.tick()
            order = self.get_order(order_id)
            if not order.is_open:
                raise SimApiError(422, UNPROCESSABLE, f"order is {order.status}, not cancelable")
            now = self.clock.now()
            order.status, order.canceled_at, order.updated_at = "canceled", now, now
            self._index(order)
            self._emit("canceled", order)
            self._changed()

    def close_position(
        self, symbol: str, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> SimOrder:
        with self.lock:
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
        with self.lock:
            self.tick()
            wanted = set(symbols) if symbols else None
            if status == "open":
                pool: Iterable[SimOrder] = sorted(
                    (
                        self.book.orders[oid]
                        for sym, ids in self._open_by_symbol.items()
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

    # --- seeding ---------------------------------------------------------------------------
    def seed_positions(
        self,
        book: Iterable[tuple[str, Decimal, Decimal]],
        marks: dict[str, Decimal] | None = None,
    ) -> None:
        """Open positions directly at their entry prices (cash moves as if bought or shorted),
        e.g. `position_manager.sample_data.SAMPLE_BOOK`. `marks` sets a quote per symbol."""
        with self.lock:
            for symbol, qty, entry in book:
                qty, entry = Decimal(qty), Decimal(entry)
                position = self.book.positions.get(symbol)
                if position is not None:
                    raise ValueError(f"{symbol}: a position is already open")
                self.book.positions[symbol] = SimPosition(symbol, qty, entry, lastday_price=entry)
                self.book.cash -= qty * entry
            for symbol, price in (marks or {}).items():
                price = Decimal(price)
                tick = tick_for(price)
                self.book.quotes[symbol] = SimQuote(
                    symbol, price - tick, price + tick, price, self.clock.now()
                )
            self._changed()

    def reset(self) -> None:
        with self.lock:
            self.book = new_book(self.config, self.clock.now())
            self._open_by_symbol.clear()
            self._day_orders.clear()
            self._changed()

    def utcnow(self) -> datetime:
        return self.clock.now().astimezone(UTC)
