"""`AlpacaBroker`: the `broker.interface.Broker` on alpaca-py, against Alpaca or the simulator.

What the adapter owns, not alpaca-py:
- Rate limiting: every HTTP request (including the SDK's own bar paging) passes the session,
  which draws on the API key's budget (shared by every process through Redis when built by
  `broker.factory`; in-process otherwise) and feeds the broker's X-RateLimit-* headers back to
  it; the SDK's blocking 429 retry is off.
- Timeouts: alpaca-py sets none; a hung request would hang the caller. Each request gets one.
- Retries and the circuit breaker (`broker.resilience`), and typed errors (`broker.alpaca_convert`).
- Idempotent submission: a duplicate client_order_id, a timeout or a 5xx on submit is answered
  by looking the order up by client id, so a re-send never makes a second order.

In the quote loop, wrap calls in `with broker.non_blocking():`: the limiter then refuses at once
(`RateLimitedError`) instead of waiting, and nothing is retried with a sleep.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar, cast

from alpaca.common.enums import Sort
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import BarSet, Trade
from alpaca.data.requests import StockBarsRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Calendar, Order, Position, TradeAccount
from alpaca.trading.models import Clock as AlpacaClock
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    ReplaceOrderRequest,
)

from broker import alpaca_convert as convert
from broker.bar_pages import request_chunks
from broker.errors import (
    BrokerError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    OrderNotFoundError,
    OrderRejectedError,
    RateLimitedError,
)
from broker.http_session import HOT, BudgetedSession
from broker.rate_limit import RequestBudget, limiter_for_key
from broker.resilience import Resilience, ResiliencePolicy
from position_manager.broker_types import (
    Account,
    Bar,
    BarColumns,
    BrokerOrder,
    BrokerPosition,
    Clock,
    FillActivity,
    OrderRequest,
    TradingDay,
)
from position_manager.logging import log_kv
from rules.ticks import round_to_tick

log = logging.getLogger(__name__)
T = TypeVar("T")

ORDERS_PAGE = 500  # Alpaca's maximum per GET /v2/orders
ACTIVITIES_PAGE = 100  # Alpaca's maximum page_size per GET /v2/account/activities
BARS_SYMBOLS_PER_REQUEST = 100  # keeps the query string short


class AlpacaBroker:
    """One account's broker access. Thread-safe (the SDK's requests session is shared)."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        base_url: str | None = None,
        data_url: str | None = None,
        paper: bool = True,
        data_feed: str = "iex",
        rate_limit_per_minute: int = 200,
        rate_limiter: RequestBudget | None = None,
        rate_limit_wait: float = 10.0,
        policy: ResiliencePolicy | None = None,
        resilience: Resilience | None = None,
        on_breaker_change: Callable[[str | None, str], None] | None = None,
    ) -> None:
        self.resilience = resilience or Resilience(policy, on_state_change=on_breaker_change)
        self.rate_limiter = rate_limiter or limiter_for_key(api_key, rate_limit_per_minute)
        timeout = self.resilience.policy.request_timeout
        self._trading = TradingClient(api_key, secret_key, paper=paper, url_override=base_url)
        self._data = StockHistoricalDataClient(api_key, secret_key, url_override=data_url)
        # The same endpoint, answers as alpaca-py's raw JSON (bars as columns, no model per bar).
        self._raw_data = StockHistoricalDataClient(
            api_key, secret_key, url_override=data_url, raw_data=True
        )
        self._session = BudgetedSession(
            self.rate_limiter,
            timeout,
            rate_limit_wait,
            [str(self._trading._base_url), str(self._data._base_url)],
        )
        for client in (self._trading, self._data, self._raw_data):
            client._retry = 0  # alpaca-py's own retry sleeps 3 s x3 inside the caller
            client._session = self._session
        self._feed = DataFeed(data_feed)

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def http_requests(self) -> int:
        """HTTP requests sent so far (benchmarks and tests count pages with it)."""
        return self._session.request_count

    @property
    def breaker_state(self) -> str:
        return self.resilience.state

    @staticmethod
    @contextlib.contextmanager
    def non_blocking() -> Iterator[None]:
        """For the quote loop: no waiting on the rate limiter and no retry sleeps."""
        token = HOT.set(True)
        try:
            yield
        finally:
            HOT.reset(token)

    def _once(
        self, fn: Callable[[], T], *, symbol: str | None = None, order_id: str | None = None
    ) -> T:
        try:
            return fn()
        except Exception as exc:
            raise convert.map_error(exc, symbol=symbol, order_id=order_id) from exc

    def _call(
        self,
        fn: Callable[[], T],
        *,
        op: str,
        symbol: str | None = None,
        order_id: str | None = None,
        retry: bool = True,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> T:
        return self.resilience.call(
            lambda: self._once(fn, symbol=symbol, order_id=order_id),
            op=op,
            retry=retry and not HOT.get(),
            retry_on=retry_on,
        )

    # --- account, clock, calendar ---------------------------------------------------------------
    def get_account(self) -> Account:
        return convert.to_account(
            cast(TradeAccount, self._call(self._trading.get_account, op="get_account"))
        )

    def get_clock(self) -> Clock:
        return convert.to_clock(
            cast(AlpacaClock, self._call(self._trading.get_clock, op="get_clock"))
        )

    def get_calendar(self, start: date, end: date) -> list[TradingDay]:
        days = self._call(
            lambda: self._trading.get_calendar(GetCalendarRequest(start=start, end=end)),
            op="get_calendar",
        )
        return [convert.to_trading_day(d) for d in cast(list[Calendar], days)]

    def is_connected(self) -> bool:
        """One cheap call (the clock), no retries: the health check wants a quick answer."""
        try:
            self._call(self._trading.get_clock, op="health", retry=False)
        except BrokerError:
            return False
        return True

    # --- positions -------------------------------------------------------------------------------
    def list_positions(self) -> list[BrokerPosition]:
        positions = self._call(self._trading.get_all_positions, op="list_positions")
        return [convert.to_position(p) for p in cast(list[Position], positions)]

    def get_position(self, symbol: str) -> BrokerPosition | None:
        try:
            position = self._call(
                lambda: self._trading.get_open_position(symbol), op="get_position", symbol=symbol
            )
        except OrderNotFoundError:
            return None
        return convert.to_position(cast(Position, position))

    def close_position(self, symbol: str, qty: Decimal | None = None) -> BrokerOrder:
        """Sell (or buy to cover) `qty`, or all of it. Not retried after a timeout or 5xx: this
        endpoint takes no client_order_id, so a re-send could close twice. Prefer
        `submit_order` with a deterministic id for partial exits."""
        options = ClosePositionRequest(qty=format(qty, "f")) if qty is not None else None
        order = self._call(
            lambda: cast(Order, self._trading.close_position(symbol, options)),
            op="close_position",
            symbol=symbol,
            retry_on=lambda exc: isinstance(exc, RateLimitedError),
        )
        log_kv(
            log, logging.INFO, "position close sent", symbol=symbol, order_id=str(order.id), qty=qty
        )
        return convert.to_order(order)

    # --- orders ----------------------------------------------------------------------------------
    def list_open_orders(self, symbols: Sequence[str] | None = None) -> list[BrokerOrder]:
        """Every open order, oldest first: pages of 500 walked forward with `after`."""
        groups = (
            [list(symbols[i : i + 200]) for i in range(0, len(symbols), 200)] if symbols else [None]
        )
        found: dict[str, BrokerOrder] = {}
        for group in groups:
            found.update(self._walk_orders(QueryOrderStatus.OPEN, None, group, "list_open_orders"))
        return list(found.values())

    def list_orders_after(self, after: datetime) -> list[BrokerOrder]:
        """Every order submitted after `after`, in any status (`status=all`), oldest first: a
        restarted worker finds in them the orders it placed but never heard about."""
        return list(self._walk_orders(QueryOrderStatus.ALL, after, None, "list_orders").values())

    def _walk_orders(
        self,
        status: QueryOrderStatus,
        after: datetime | None,
        symbols: list[str] | None,
        op: str,
    ) -> dict[str, BrokerOrder]:
        """Pages of 500 walked forward with `after` (Alpaca filters on `submitted_at`). Each page
        restarts 1 µs before the newest order seen, so orders sharing a timestamp at a page
        boundary are never skipped (duplicates are dropped by id)."""
        found: dict[str, BrokerOrder] = {}
        while True:
            request = GetOrdersRequest(
                status=status,
                limit=ORDERS_PAGE,
                direction=Sort.ASC,
                after=after,
                symbols=symbols,
                nested=False,
            )
            page = self._call(partial(self._orders_page, request), op=op)
            fresh = [o for o in page if str(o.id) not in found]
            for order in fresh:
                found[str(order.id)] = convert.to_order(order)
            if len(page) < ORDERS_PAGE:
                break
            if not fresh:
                log_kv(log, logging.ERROR, "order paging stalled: 500 orders share a time")
                break
            after = max(o.submitted_at for o in page) - timedelta(microseconds=1)
        return found

    def list_fill_activities(self, after: datetime) -> list[FillActivity]:
        """Every fill after `after` (`GET /v2/account/activities/FILL`), oldest first: pages of
        100 (Alpaca's maximum `page_size`), each asking for the entries after the last id seen
        (`page_token`). alpaca-py's TradingClient has no call for it, so its own REST client
        sends the request (same session: the rate limit and the timeout apply)."""
        params: dict[str, Any] = {
            "after": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "direction": "asc",
            "page_size": ACTIVITIES_PAGE,
        }
        found: dict[str, FillActivity] = {}
        while True:
            page = self._call(
                partial(self._trading.get, "/account/activities/FILL", dict(params)),
                op="list_fill_activities",
            )
            rows = [row for row in cast(list[dict[str, Any]], page or []) if row.get("order_id")]
            for row in rows:
                fill = convert.to_fill_activity(row)
                found.setdefault(fill.id, fill)
            if len(cast(list[Any], page or [])) < ACTIVITIES_PAGE:
                break
            params["page_token"] = str(cast(list[dict[str, Any]], page)[-1]["id"])
        return list(found.values())

    def _orders_page(self, request: GetOrdersRequest) -> list[Order]:
        return cast(list[Order], self._trading.get_orders(request))

    def get_order(self, order_id: str) -> BrokerOrder:
        order = self._call(
            lambda: cast(Order, self._trading.get_order_by_id(order_id)),
            op="get_order",
            order_id=order_id,
        )
        return convert.to_order(order)

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = self._call(
                lambda: cast(Order, self._trading.get_order_by_client_id(client_order_id)),
                op="get_order_by_client_id",
            )
        except OrderNotFoundError:
            return None
        return convert.to_order(order)

    def _lookup_once(self, client_order_id: str) -> Order | None:
        try:
            return self._once(
                lambda: cast(Order, self._trading.get_order_by_client_id(client_order_id))
            )
        except OrderNotFoundError:
            return None

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Idempotent by client_order_id: if the broker already has it (duplicate rejection), or
        the answer was lost (timeout, 5xx), the existing order is looked up and returned."""
        alpaca_request = convert.to_alpaca_request(request)
        cid = request.client_order_id

        def attempt() -> Order:
            try:
                return self._once(
                    lambda: cast(Order, self._trading.submit_order(alpaca_request)),
                    symbol=request.symbol,
                )
            except (DuplicateClientOrderIdError, BrokerUnavailableError) as exc:
                # A used id, or an answer lost on the way back: the order may exist already.
                existing = self._lookup_once(cid)
                if existing is None:
                    raise
                log_kv(
                    log,
                    logging.INFO,
                    "order existed already"
                    if isinstance(exc, DuplicateClientOrderIdError)
                    else "order found after a lost answer",
                    symbol=request.symbol,
                    client_order_id=cid,
                    order_id=str(existing.id),
                )
                return existing

        order = self._call(attempt, op="submit_order", symbol=request.symbol)
        log_kv(
            log,
            logging.INFO,
            "order submitted",
            symbol=request.symbol,
            client_order_id=cid,
            order_id=str(order.id),
            kind=request.kind.value,
            side=request.side.value,
            qty=request.qty,
            stop_price=_tick(request.stop_price),
            limit_price=_tick(request.limit_price),
            trail_percent=request.trail_percent,
            time_in_force=request.time_in_force.value,
            extended_hours=request.extended_hours or None,
            status=_status_text(order),
        )
        return convert.to_order(order)

    def replace_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        stop_price: Decimal | None = None,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> BrokerOrder:
        """PATCH; returns the new order. With a client_order_id the call is idempotent (a lost
        answer is found by that id); without one, a re-sent PATCH fails safely as the old order
        is no longer replaceable."""
        if qty is not None and qty != qty.to_integral_value():
            raise OrderRejectedError(
                f"replace needs a whole quantity, got {qty} (Alpaca cannot replace fractional qty)",
                order_id=order_id,
            )
        patch = ReplaceOrderRequest(
            qty=int(qty) if qty is not None else None,
            stop_price=convert.price_to_tick(stop_price),
            limit_price=convert.price_to_tick(limit_price),
            client_order_id=client_order_id,
        )

        def attempt() -> Order:
            try:
                return self._once(
                    lambda: cast(Order, self._trading.replace_order_by_id(order_id, patch)),
                    order_id=order_id,
                )
            except (BrokerUnavailableError, OrderRejectedError):
                if client_order_id is None:
                    raise
                existing = self._lookup_once(client_order_id)
                if existing is None:
                    raise
                return existing

        order = self._call(attempt, op="replace_order", order_id=order_id)
        log_kv(
            log,
            logging.INFO,
            "order replaced",
            order_id=order_id,
            new_order_id=str(order.id),
            symbol=order.symbol,
            qty=qty,
            stop_price=_tick(stop_price),
            limit_price=_tick(limit_price),
            client_order_id=client_order_id,
            status=_status_text(order),
        )
        return convert.to_order(order)

    def cancel_order(self, order_id: str) -> None:
        """Cancel; an order already cancelled (e.g. by our own earlier, unanswered attempt)
        counts as success. Any other final state is reported as `OrderRejectedError`."""
        try:
            self._call(
                lambda: self._trading.cancel_order_by_id(order_id),
                op="cancel_order",
                order_id=order_id,
            )
        except OrderRejectedError:
            if self.get_order(order_id).status != "canceled":
                raise
        log_kv(log, logging.INFO, "order canceled", order_id=order_id)

    # --- market data ----------------------------------------------------------------------------
    def _bars(self, request: StockBarsRequest) -> BarSet:
        return cast(BarSet, self._data.get_stock_bars(request))

    def get_daily_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """Daily bars, many symbols per request; alpaca-py follows next_page_token and every page
        passes the rate limiter. Symbols without data have no key."""
        return self._get_bars(symbols, start, end, TimeFrame.Day, "get_daily_bars")

    def get_minute_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """Minute bars (extended sessions included), 10,000 a page: what a replay plays back."""
        return self._get_bars(symbols, start, end, TimeFrame.Minute, "get_minute_bars")

    def _get_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime, frame: TimeFrame, op: str
    ) -> dict[str, list[Bar]]:
        out: dict[str, list[Bar]] = {}
        unique = sorted(set(symbols))
        for i in range(0, len(unique), BARS_SYMBOLS_PER_REQUEST):
            chunk = unique[i : i + BARS_SYMBOLS_PER_REQUEST]
            request = StockBarsRequest(
                symbol_or_symbols=chunk,
                timeframe=frame,
                start=start,
                end=end,
                feed=self._feed,
                adjustment=Adjustment.RAW,
            )
            barset = self._call(partial(self._bars, request), op=op)
            for symbol, bars in barset.data.items():
                if bars:
                    out[symbol] = [convert.to_bar(b) for b in bars]
        return out

    def get_daily_bar_columns(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> BarColumns:
        """`get_daily_bars` as columns, through alpaca-py's raw answers, with the symbols split
        so that the pages come full (`broker.bar_pages`). Every page passes the rate limiter."""
        columns = BarColumns.empty()
        for chunk in request_chunks(symbols, start, end):
            request = StockBarsRequest(
                symbol_or_symbols=chunk,
                timeframe=TimeFrame.Day,
                start=start,
                end=end,
                feed=self._feed,
                adjustment=Adjustment.RAW,
            )
            raw = cast(
                dict[str, list[dict[str, Any]]],
                self._call(partial(self._raw_data.get_stock_bars, request), op="get_daily_bars"),
            )
            for symbol, bars in raw.items():
                if not bars:
                    continue
                columns.symbol.extend([symbol] * len(bars))
                columns.timestamp.extend([bar["t"] for bar in bars])
                columns.open.extend([bar["o"] for bar in bars])
                columns.high.extend([bar["h"] for bar in bars])
                columns.low.extend([bar["l"] for bar in bars])
                columns.close.extend([bar["c"] for bar in bars])
                columns.volume.extend([bar["v"] for bar in bars])
        return columns

    def get_latest_trade_price(self, symbol: str) -> Decimal | None:
        """`GET /v2/stocks/trades/latest`: what the feed last printed, to confirm a quote that
        moved implausibly far before anything is traded on it."""
        request = StockLatestTradeRequest(symbol_or_symbols=[symbol], feed=self._feed)
        trades = cast(
            dict[str, Trade],
            self._call(
                partial(self._data.get_stock_latest_trade, request),
                op="get_latest_trade",
                symbol=symbol,
            ),
        )
        trade = trades.get(symbol)
        if trade is None or trade.price is None:
            return None
        price = Decimal(str(trade.price))
        return price if price.is_finite() and price > 0 else None


def _tick(price: Decimal | None) -> Decimal | None:
    """A price as it was sent (rounded to the tick), for the order log lines."""
    return None if price is None else round_to_tick(price)


def _status_text(order: Order) -> str | None:
    """The broker's answer's status (`new`, `accepted`, ...), for the order log lines."""
    status = getattr(order, "status", None)
    return None if status is None else str(getattr(status, "value", status))
