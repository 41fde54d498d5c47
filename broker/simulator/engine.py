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

from broker.simulator.clock import SimClock
from broker.simulator.order_rules import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    STOP_TYPES,
    UNPROCESSABLE,
    OrderSpec,
    SimApiError,
    check_spec,
    decimal_field,
    parse_order,
    plain,
    tick_for,
)
from broker.simulator.serialize import order_json
from broker.simulator.state import SimBook, SimOrder, SimPosition, SimQuote
from position_manager.market_calendar import day_end_for
from rules.model import Session

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


class Engine:
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

    def mark(self, symbol: str) -> Decimal | None:
        quote = self.book.quotes.get(symbol)
        if quote is not None:
            return quote.mark
        position = self.book.positions.get(symbol)
        return position.avg_entry_price if position else None

    def held_for_orders(self, symbol: str, side: str) -> Decimal:
        return sum(
            (
                self.book.orders[oid].remaining
                for oid in self._open_by_symbol.get(symbol, ())
                if self.book.orders[oid].side == side
            ),
            Decimal(0),
        )

    # --- account ---------------------------------------------------------------------------
    def account_numbers(self) -> dict[str, Decimal]:
        with self.lock:
            long_mv = short_mv = Decimal(0)
            for position in self.book.positions.values():
                value = position.qty * (self.mark(position.symbol) or position.avg_entry_price)
                if value > 0:
                    long_mv += value
                else:
                    short_mv += value
            equity = self.book.cash + long_mv + short_mv
            multiplier = self.config.margin_multiplier
            initial_margin = (long_mv - short_mv) / multiplier if multiplier > 1 else long_mv
            if multiplier > 1:
                buying_power = max(equity - initial_margin, Decimal(0)) * multiplier
            else:
                buying_power = self.book.cash
            buying_power = max(buying_power - self._open_order_notional(), Decimal(0))
            return {
                "cash": self.book.cash,
                "equity": equity,
                "long_market_value": long_mv,
                "short_market_value": short_mv,
                "initial_margin": initial_margin,
                "buying_power": buying_power,
                "multiplier": multiplier,
            }

    def _order_price(self, spec: OrderSpec | SimOrder) -> Decimal:
        return spec.limit_price or spec.stop_price or self.mark(spec.symbol) or Decimal(0)

    def _opens_exposure(self, symbol: str, side: str) -> bool:
        position = self.book.positions.get(symbol)
        qty = position.qty if position else Decimal(0)
        return (side == "buy" and qty >= 0) or (side == "sell" and qty <= 0)

    def _open_order_notional(self) -> Decimal:
        total = Decimal(0)
        for ids in self._open_by_symbol.values():
            for oid in ids:
                order = self.book.orders[oid]
                if self._opens_exposure(order.symbol, order.side):
                    total += order.remaining * self._order_price(order)
        return total

    # --- checks ----------------------------------------------------------------------------
    def _check_book(self, spec: OrderSpec, ignore_order: str | None = None) -> None:
        """Reservation and buying power, as Alpaca checks them at submission."""
        position = self.book.positions.get(spec.symbol)
        qty = position.qty if position else Decimal(0)
        closing_side = "sell" if qty > 0 else "buy" if qty < 0 else None
        if spec.side == closing_side:
            held = self.held_for_orders(spec.symbol, spec.side)
            if ignore_order is not None and self.book.orders[ignore_order].is_open:
                held -= self.book.orders[ignore_order].remaining
            available = abs(qty) - held
            if spec.qty > available:
                raise SimApiError(
                    403,
                    FORBIDDEN,
                    f"insufficient qty available for order (requested: {spec.qty:f}, "
                    f"available: {available:f})",
                    symbol=spec.symbol,
                    existing_qty=format(abs(qty), "f"),
                    held_for_orders=format(held, "f"),
                    available=format(available, "f"),
                )
            return
        if spec.side == "sell" and spec.qty != spec.qty.to_integral_value():
            raise SimApiError(403, FORBIDDEN, "fractional orders cannot be sold short")
        notional = spec.qty * self._order_price(spec)
        buying_power = self.account_numbers()["buying_power"]
        if notional > buying_power:
            raise SimApiError(
                403,
                FORBIDDEN,
                "insufficient buying power",
                buying_power=format(buying_power, "f"),
                cost_basis=format(notional, "f"),
            )

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

    # --- quotes and matching -----------------------------------------------------------------
    def feed_quote(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
        ts: datetime | None = None,
    ) -> None:
        with self.lock:
            self.book.quotes[symbol] = SimQuote(
                symbol,
                Decimal(bid),
                Decimal(ask),
                None if last is None else Decimal(last),
                ts or self.clock.now(),
            )
            self.tick()
            for order_id in sorted(self._open_by_symbol.get(symbol, ())):
                self._try_fill(self.book.orders[order_id])
            self._changed()

    def tick(self) -> None:
        """Expire DAY orders whose session ended; on a session change, retry waiting orders."""
        with self.lock:
            now = self.clock.now()
            expired = [
                self.book.orders[oid]
                for oid in self._day_orders
                if (exp := self.book.orders[oid].expires_at) is not None and exp <= now
            ]
            for order in sorted(expired, key=lambda o: o.submitted_at):
                order.status, order.expired_at, order.updated_at = "expired", now, now
                self._index(order)
                self._emit("expired", order)
            session = self.clock.session()
            if session != self._last_session:
                self._last_session = session
                for ids in list(self._open_by_symbol.values()):
                    for oid in sorted(ids):
                        self._try_fill(self.book.orders[oid])
            if expired:
                self._changed()

    def _trail(self, order: SimOrder, quote: SimQuote | None, initial: bool = False) -> None:
        """Move a trailing stop's high-water mark (low-water for a buy) and its stop price."""
        if quote is None:
            return
        ref = quote.last or (quote.bid if order.side == "sell" else quote.ask)
        if order.hwm is None or (order.hwm < ref if order.side == "sell" else order.hwm > ref):
            order.hwm = ref
        hwm = order.hwm
        if order.trail_percent is not None:
            offset = hwm * order.trail_percent / 100
        else:
            offset = order.trail_price or Decimal(0)
        stop = hwm - offset if order.side == "sell" else hwm + offset
        order.stop_price = stop.quantize(tick_for(stop)) if stop > 0 else Decimal("0.0001")

    def _try_fill(self, order: SimOrder) -> None:
        quote = self.book.quotes.get(order.symbol)
        if not order.is_open or quote is None:
            return
        session = self.clock.session()
        regular = session == Session.REGULAR
        if not regular and not (order.extended_hours and session in (Session.PRE, Session.POST)):
            return
        if order.type in STOP_TYPES and not order.triggered:
            if order.type == "trailing_stop":
                self._trail(order, quote)
            ref = quote.last or (quote.bid if order.side == "sell" else quote.ask)
            stop = order.stop_price
            if stop is None or (ref > stop if order.side == "sell" else ref < stop):
                return
            order.triggered = True
        if order.type in ("limit", "stop_limit"):
            limit = order.limit_price or Decimal(0)
            if order.side == "buy" and not quote.ask <= limit:
                return
            if order.side == "sell" and not quote.bid >= limit:
                return
        price = quote.ask if order.side == "buy" else quote.bid
        if price <= 0:
            return
        qty = order.remaining
        if self.config.partial_fill_qty is not None:
            qty = min(qty, self.config.partial_fill_qty)
        self._fill(order, qty, price)

    def _fill(self, order: SimOrder, qty: Decimal, price: Decimal) -> None:
        book = self.book
        signed = qty if order.side == "buy" else -qty
        position = book.positions.get(order.symbol)
        old = position.qty if position else Decimal(0)
        new = old + signed
        if new == 0:
            book.positions.pop(order.symbol, None)
        elif position is None or old == 0 or (old > 0) != (new > 0):
            book.positions[order.symbol] = SimPosition(order.symbol, new, price)
        else:
            if abs(new) > abs(old):
                total = abs(old) * position.avg_entry_price + qty * price
                position.avg_entry_price = plain((total / abs(new)).quantize(_AVG_PLACES))
            position.qty = new
        book.cash -= signed * price
        filled_before = order.filled_qty
        avg_before = order.filled_avg_price or Decimal(0)
        order.filled_qty = filled_before + qty
        avg = (filled_before * avg_before + qty * price) / order.filled_qty
        order.filled_avg_price = plain(avg.quantize(_AVG_PLACES))
        now = self.clock.now()
        order.updated_at = now
        if order.filled_qty >= order.qty:
            order.status, order.filled_at = "filled", now
        else:
            order.status = "partially_filled"
        self._index(order)
        self._emit(
            "fill" if order.status == "filled" else "partial_fill", order, price=price, qty=qty
        )

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
