"""Quote-driven matching: triggers, trailing stops, fills and the positions and cash they move.

Stops trigger only in the regular session; extended-hours orders fill in PRE/POST; buys fill at
the ask, sells at the bid (at most `partial_fill_qty` per quote). `Matcher` works on the shared
`EngineState` and reports every fill and expiry through `TradeUpdates`.

Realistic lifecycle (`lifecycle` given): an order fills only once routed and `fill_latency_s`
after it could first fill; stops elect on trade prints (`last`), or on the whole NBBO past the
stop when the feed has no prints (never on a bid or an ask alone; a zero side arms nothing), and
fill from the first quote after the electing one, with `slippage_bps`; one fill per quote.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from position_manager.market_calendar import NEW_YORK
from position_manager.session import Session
from simulator.config import EngineConfig
from simulator.lifecycle import WORKING, Lifecycle
from simulator.order_rules import STOP_TYPES, plain, tick_for
from simulator.state import EngineState, SimBook, SimFill, SimOrder, SimPosition, SimQuote
from simulator.updates import TradeUpdates

_AVG_PLACES = Decimal("0.000001")


class Matcher:
    def __init__(
        self,
        state: EngineState,
        config: EngineConfig,
        updates: TradeUpdates,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.state = state
        self.config = config
        self.updates = updates
        self.lifecycle = lifecycle

    @property
    def book(self) -> SimBook:
        return self.state.book

    def feed_quote(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
        ts: datetime | None = None,
    ) -> None:
        state = self.state
        with state.lock:
            self.book.quotes[symbol] = SimQuote(
                symbol,
                Decimal(bid),
                Decimal(ask),
                None if last is None else Decimal(last),
                ts or state.clock.now(),
            )
            state.quote_seq[symbol] = state.quote_seq.get(symbol, 0) + 1
            state.quote_seen_at[symbol] = state.clock.now()
            self.tick()
            for order_id in sorted(state.open_by_symbol.get(symbol, ())):
                self.try_fill(self.book.orders[order_id])
            self.updates.changed()

    def tick(self) -> None:
        """Expire DAY orders whose session ended; on a session change, retry waiting orders."""
        state = self.state
        with state.lock:
            now = state.clock.now()
            expired = [
                self.book.orders[oid]
                for oid in state.day_orders
                if (exp := self.book.orders[oid].expires_at) is not None and exp <= now
            ]
            for order in sorted(expired, key=lambda o: o.submitted_at):
                order.status, order.expired_at, order.updated_at = "expired", now, now
                state.index(order)
                self.updates.emit("expired", order)
            session = state.clock.session()
            if session != state.last_session:
                state.last_session = session
                for ids in list(state.open_by_symbol.values()):
                    for oid in sorted(ids):
                        self.try_fill(self.book.orders[oid])
            if expired:
                self.updates.changed()
            if self.lifecycle is not None:
                for order in self.lifecycle.process():
                    self.try_fill(order)

    def trail(self, order: SimOrder, quote: SimQuote | None) -> None:
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

    def try_fill(self, order: SimOrder) -> None:
        """Fill `order` (or part of it) if the session, its trigger and the last quote allow."""
        quote = self.book.quotes.get(order.symbol)
        if not order.is_open or quote is None:
            return
        session = self.state.clock.session()
        regular = session == Session.REGULAR
        if not regular and not (order.extended_hours and session in (Session.PRE, Session.POST)):
            return
        if self.lifecycle is not None:
            self._try_fill_realistic(order, quote, self.lifecycle)
            return
        if order.type in STOP_TYPES and not order.triggered:
            if order.type == "trailing_stop":
                self.trail(order, quote)
            ref = quote.last or (quote.bid if order.side == "sell" else quote.ask)
            stop = order.stop_price
            if stop is None or (ref > stop if order.side == "sell" else ref < stop):
                return
            order.triggered = True
        price = fill_price(order, quote)
        if price is None:
            return
        qty = order.remaining
        if self.config.partial_fill_qty is not None:
            qty = min(qty, self.config.partial_fill_qty)
        self._fill(order, qty, price)

    def _elects(self, order: SimOrder, quote: SimQuote) -> bool:
        """Trade prints elect a stop; without one, only the whole NBBO past the stop does."""
        stop = order.stop_price
        if stop is None or quote.bid <= 0 or quote.ask <= 0:
            return False
        if quote.last is not None:
            return quote.last <= stop if order.side == "sell" else quote.last >= stop
        return quote.ask <= stop if order.side == "sell" else quote.bid >= stop

    def _try_fill_realistic(self, order: SimOrder, quote: SimQuote, lifecycle: Lifecycle) -> None:
        if order.status not in WORKING:
            return
        timing = lifecycle.timing_of(order)
        now = self.state.clock.now()
        if now < timing.routed_at:
            return
        seq = self.state.quote_seq.get(order.symbol, 0)
        seen = self.state.quote_seen_at.get(order.symbol, timing.routed_at)
        latency = timedelta(seconds=self.config.fill_latency_s)
        if order.type in STOP_TYPES and not order.triggered:
            if order.type == "trailing_stop":
                self.trail(order, quote)
            if not self._elects(order, quote):
                return
            order.triggered = True
            timing.elected_seq = seq
            timing.fill_due = max(timing.routed_at, seen) + latency
            return  # fills come from the first quote after the electing one
        if timing.elected_seq is not None and seq <= timing.elected_seq:
            return
        if timing.last_fill_seq == seq:
            return
        price = fill_price(order, quote)
        if price is None:
            return
        if timing.fill_due is None:
            timing.fill_due = max(timing.routed_at, seen) + latency
        if now < timing.fill_due:
            return
        if order.type not in ("limit", "stop_limit") and self.config.slippage_bps:
            factor = self.config.slippage_bps / 10000
            price = price * (1 + factor) if order.side == "buy" else price * (1 - factor)
            price = price.quantize(tick_for(price), rounding=ROUND_HALF_UP)
        qty = order.remaining
        if self.config.partial_fill_qty is not None:
            qty = min(qty, self.config.partial_fill_qty)
        timing.last_fill_seq = seq
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
        now = self.state.clock.now()
        order.updated_at = now
        if order.filled_qty >= order.qty:
            order.status, order.filled_at = "filled", now
        elif order.status not in ("pending_cancel", "pending_replace"):
            order.status = "partially_filled"  # a pending request keeps its state until it lands
        self.state.index(order)
        book.fills.append(fill_record(order, qty, price, now))
        self.updates.emit(
            "fill" if order.status == "filled" else "partial_fill", order, price=price, qty=qty
        )


def fill_record(order: SimOrder, qty: Decimal, price: Decimal, now: datetime) -> SimFill:
    """The account activity of one execution. Its id is Alpaca's form: the time in New York
    (the OpenAPI example pairs `20220202135509981::...` with `2022-02-02T18:55:09.981482Z`),
    `::`, a UUID."""
    stamp = now.astimezone(NEW_YORK).strftime("%Y%m%d%H%M%S%f")[:17]
    done = order.filled_qty >= order.qty
    return SimFill(
        id=f"{stamp}::{uuid.uuid4()}",
        order_id=order.id,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        cum_qty=order.filled_qty,
        leaves_qty=max(order.qty - order.filled_qty, Decimal(0)),
        price=price,
        transaction_time=now,
        order_status=order.status,
        type="fill" if done else "partial_fill",
    )


def fill_price(order: SimOrder, quote: SimQuote) -> Decimal | None:
    """Where an order that may trade now fills against `quote`: a buy at the ask, a sell at the
    bid; None when a limit is not marketable or the side of the book is empty."""
    if order.type in ("limit", "stop_limit"):
        limit = order.limit_price or Decimal(0)
        if order.side == "buy" and not quote.ask <= limit:
            return None
        if order.side == "sell" and not quote.bid >= limit:
            return None
    price = quote.ask if order.side == "buy" else quote.bid
    return price if price > 0 else None
