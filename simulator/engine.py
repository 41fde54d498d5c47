"""The order book and matching engine: Alpaca's rules where a position manager feels them.

- Open sell orders (stops included) reserve shares; a sell beyond the rest is refused with 403 /
  40310000 and `held_for_orders` (buy-to-cover orders against a short likewise).
- A client_order_id is unique forever, even after the order is cancelled.
- Stops and trailing stops trigger only in the regular session; extended-hours orders are DAY
  limits and fill in PRE/POST; market orders wait for the regular session.
- Quotes drive fills: buys at the ask, sells at the bid (at most `partial_fill_qty` per quote).
- `config.lifecycle`: "instant" (for unit tests only; not how Alpaca behaves) fills, cancels and
  replaces inside the request; "realistic" (`Lifecycle`, `Rejects`) answers first and lets the
  pending states land later on the simulator's clock (`process_pending`).

`Engine` is the facade the simulator, its HTTP app and the tests call. It owns one `EngineState`
and hands it to the parts that do the work: `AccountRules` (balances, reservation and buying
power), `Matcher` (quotes, triggers, fills, expiry) and `OrderDesk` (submit, replace, cancel,
look up). Every change is reported through `TradeUpdates`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulator.account import AccountRules
from simulator.clock import SimClock
from simulator.config import EngineConfig
from simulator.lifecycle import Lifecycle
from simulator.matching import Matcher
from simulator.order_rules import tick_for
from simulator.orders import OrderDesk
from simulator.rejects import Rejects
from simulator.serialize import order_json
from simulator.state import EngineState, SimBook, SimOrder, SimPosition, SimQuote, new_book
from simulator.updates import TradeUpdate, TradeUpdates


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
        self.state = EngineState(clock, book or new_book(self.config, clock.now()))
        self.updates = TradeUpdates(self.state, on_update, on_change, self.config.realistic)
        self.account = AccountRules(self.state, self.config)
        self.lifecycle = (
            Lifecycle(self.state, self.config, self.updates) if self.config.realistic else None
        )
        self.matcher = Matcher(self.state, self.config, self.updates, self.lifecycle)
        self.rejects = Rejects(self.state, self.config)
        self.orders = OrderDesk(
            self.state, self.account, self.matcher, self.updates, self.rejects, self.lifecycle
        )

    @property
    def book(self) -> SimBook:
        return self.state.book

    @property
    def lock(self) -> threading.RLock:
        return self.state.lock

    # --- quotes and time -----------------------------------------------------------------
    def feed_quote(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        last: Decimal | None = None,
        ts: datetime | None = None,
    ) -> None:
        self.matcher.feed_quote(symbol, bid, ask, last, ts)

    def tick(self) -> None:
        """Expire DAY orders whose session ended; on a session change, retry waiting orders.
        Realistic lifecycle: also land due cancels and replaces, route, fill, expire GTC."""
        self.matcher.tick()

    def process_pending(self) -> None:
        """The hook tests drive (after moving the frozen clock): everything due happens now."""
        self.matcher.tick()

    def order_body(self, order: SimOrder) -> dict[str, Any]:
        """The order's JSON as this lifecycle's Alpaca writes it."""
        return order_json(order, self.config.realistic)

    # --- account -------------------------------------------------------------------------
    def mark(self, symbol: str) -> Decimal | None:
        return self.account.mark(symbol)

    def held_for_orders(self, symbol: str, side: str) -> Decimal:
        return self.account.held_for_orders(symbol, side)

    def account_numbers(self) -> dict[str, Decimal]:
        return self.account.account_numbers()

    # --- orders ----------------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> SimOrder:
        return self.orders.submit(payload)

    def get_order(self, order_id: str) -> SimOrder:
        return self.orders.get_order(order_id)

    def get_by_client_id(self, client_order_id: str) -> SimOrder:
        return self.orders.get_by_client_id(client_order_id)

    def replace(self, order_id: str, payload: dict[str, Any]) -> SimOrder:
        """PATCH: a new order with the changes; the old one becomes `replaced`."""
        return self.orders.replace(order_id, payload)

    def cancel(self, order_id: str) -> None:
        self.orders.cancel(order_id)

    def close_position(
        self, symbol: str, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> SimOrder:
        return self.orders.close_position(symbol, qty, percentage)

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
        return self.orders.list_orders(status, limit, after, until, direction, symbols, side)

    # --- seeding ---------------------------------------------------------------------------
    def seed_positions(
        self,
        book: Iterable[tuple[str, Decimal, Decimal]],
        marks: dict[str, Decimal] | None = None,
    ) -> None:
        """Open positions directly at their entry prices (cash moves as if bought or shorted),
        e.g. `position_manager.sample_data.SAMPLE_BOOK`. `marks` sets a quote per symbol."""
        with self.state.lock:
            sim_book = self.state.book
            for symbol, qty, entry in book:
                qty, entry = Decimal(qty), Decimal(entry)
                position = sim_book.positions.get(symbol)
                if position is not None:
                    raise ValueError(f"{symbol}: a position is already open")
                sim_book.positions[symbol] = SimPosition(symbol, qty, entry, lastday_price=entry)
                sim_book.cash -= qty * entry
            for symbol, price in (marks or {}).items():
                price = Decimal(price)
                tick = tick_for(price)
                sim_book.quotes[symbol] = SimQuote(
                    symbol, price - tick, price + tick, price, self.clock.now()
                )
            self.updates.changed()

    def reset(self) -> None:
        """An empty account again (new ids, starting cash); the clock and session stay."""
        with self.state.lock:
            self.state.replace_book(new_book(self.config, self.clock.now()))
            self.updates.changed()
