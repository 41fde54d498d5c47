"""What the rest of the system may ask of a broker. `broker.alpaca_adapter.AlpacaBroker`
implements it on alpaca-py (against Alpaca or the simulator); tests never replace it with a stub.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

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


class Broker(Protocol):
    def get_account(self) -> Account: ...

    def get_clock(self) -> Clock: ...

    def get_calendar(self, start: date, end: date) -> list[TradingDay]: ...

    def list_positions(self) -> list[BrokerPosition]: ...

    def get_position(self, symbol: str) -> BrokerPosition | None: ...

    def list_open_orders(self, symbols: Sequence[str] | None = None) -> list[BrokerOrder]:
        """Every open order, paging past Alpaca's 500-per-request limit."""
        ...

    def list_orders_after(self, after: datetime) -> list[BrokerOrder]:
        """Every order submitted after `after`, in any status (`GET /v2/orders?status=all`)."""
        ...

    def list_fill_activities(self, after: datetime) -> list[FillActivity]:
        """Every fill after `after` (`GET /v2/account/activities/FILL`), oldest first."""
        ...

    def get_order(self, order_id: str) -> BrokerOrder: ...

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Idempotent by client_order_id: a re-send returns the existing order."""
        ...

    def replace_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        stop_price: Decimal | None = None,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> BrokerOrder:
        """PATCH: returns the NEW order; the old one becomes `replaced`."""
        ...

    def cancel_order(self, order_id: str) -> None: ...

    def close_position(self, symbol: str, qty: Decimal | None = None) -> BrokerOrder: ...

    def get_daily_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """Multi-symbol requests following next_page_token; absent symbols have no key."""
        ...

    def get_minute_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """1Min bars, extended sessions included; absent symbols have no key."""
        ...

    def get_daily_bar_columns(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> BarColumns:
        """The same bars as columns, in as few pages as the feed allows (`broker.bar_pages`)."""
        ...

    def get_latest_trade_price(self, symbol: str) -> Decimal | None:
        """The market data feed's latest trade price (None: no trade known for the symbol)."""
        ...

    def is_connected(self) -> bool:
        """Cheap health probe (the health hash's alpaca_connected)."""
        ...
