"""The simulator's account rules: marks, shares held by open orders, balances, and the checks
Alpaca makes at submission (reservation: 403 / 40310000 with held_for_orders; buying power).

`AccountRules` only reads the shared `EngineState`; the order desk asks it before an order is
accepted and the HTTP app asks it for the account and position bodies.
"""

from __future__ import annotations

from decimal import Decimal

from position_manager.market_calendar import NEW_YORK
from simulator.config import EngineConfig
from simulator.order_rules import FORBIDDEN, OrderSpec, SimApiError
from simulator.state import EngineState, SimBook, SimOrder


def _unlanded(order: SimOrder) -> bool:
    return order.status == "pending_new" and order.replaces is not None


class AccountRules:
    def __init__(self, state: EngineState, config: EngineConfig) -> None:
        self.state = state
        self.config = config

    @property
    def book(self) -> SimBook:
        return self.state.book

    def mark(self, symbol: str) -> Decimal | None:
        quote = self.book.quotes.get(symbol)
        if quote is not None:
            return quote.mark
        position = self.book.positions.get(symbol)
        return position.avg_entry_price if position else None

    def held_for_orders(self, symbol: str, side: str) -> Decimal:
        """Shares reserved by open orders on `side`. A replacement that has not landed yet
        (realistic lifecycle) holds nothing: the order it replaces still holds its shares."""
        return sum(
            (
                self.book.orders[oid].remaining
                for oid in self.state.open_by_symbol.get(symbol, ())
                if self.book.orders[oid].side == side and not _unlanded(self.book.orders[oid])
            ),
            Decimal(0),
        )

    # --- account ---------------------------------------------------------------------------
    def account_numbers(self) -> dict[str, Decimal]:
        with self.state.lock:
            long_mv = short_mv = Decimal(0)
            for position in self.book.positions.values():
                value = position.qty * (self.mark(position.symbol) or position.avg_entry_price)
                if value > 0:
                    long_mv += value
                else:
                    short_mv += value
            equity = self.book.cash + long_mv + short_mv
            last_equity = self._roll_equity(equity)
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
                "last_equity": last_equity,
                "long_market_value": long_mv,
                "short_market_value": short_mv,
                "initial_margin": initial_margin,
                "buying_power": buying_power,
                "multiplier": multiplier,
            }

    def _roll_equity(self, equity: Decimal) -> Decimal:
        """`last_equity` as Alpaca defines it ("Equity as of previous trading day at 16:00:00
        ET", the Account schema in the trading OpenAPI spec): the book remembers the last equity
        it computed on each New York date; once the date moves on, that is the close. Before
        any earlier date is known, the first equity seen stands for it."""
        today = self.state.clock.now().astimezone(NEW_YORK).date().isoformat()
        book = self.book
        if book.equity_date != today:
            if book.equity_on_date is not None:
                book.last_equity = book.equity_on_date
            book.equity_date = today
        if book.last_equity is None:
            book.last_equity = equity
        book.equity_on_date = equity
        return book.last_equity

    def _order_price(self, spec: OrderSpec | SimOrder) -> Decimal:
        return spec.limit_price or spec.stop_price or self.mark(spec.symbol) or Decimal(0)

    def _opens_exposure(self, symbol: str, side: str) -> bool:
        position = self.book.positions.get(symbol)
        qty = position.qty if position else Decimal(0)
        return (side == "buy" and qty >= 0) or (side == "sell" and qty <= 0)

    def _open_order_notional(self) -> Decimal:
        total = Decimal(0)
        for ids in self.state.open_by_symbol.values():
            for oid in ids:
                order = self.book.orders[oid]
                if self._opens_exposure(order.symbol, order.side) and not _unlanded(order):
                    total += order.remaining * self._order_price(order)
        return total

    # --- checks ----------------------------------------------------------------------------
    def check(self, spec: OrderSpec, ignore_order: str | None = None) -> None:
        """Reservation and buying power, as Alpaca checks them at submission. `ignore_order`:
        the order a replacement replaces (its shares are freed by the replacement)."""
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
