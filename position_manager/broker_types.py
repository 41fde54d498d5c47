"""Plain broker-side records, decoupled from alpaca-py's models.

The adapter converts alpaca-py models into these (prices and quantities as `Decimal` from the
broker's strings) so the rules, the worker and the pipeline never import alpaca-py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


# Every order type that protects a position (the type strings of Alpaca's order bodies).
STOP_ORDER_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})


class OrderKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"

    @property
    def is_stop(self) -> bool:
        """Every kind that protects a position, not plain `stop` only."""
        return self.value in STOP_ORDER_TYPES


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: str
    qty: Decimal  # negative for a short
    avg_entry_price: Decimal
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    qty_available: Decimal | None = None

    @property
    def is_short(self) -> bool:
        return self.qty < 0


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    kind: OrderKind
    qty: Decimal | None
    filled_qty: Decimal
    status: str  # alpaca's status string: new, accepted, held, partially_filled, filled, ...
    time_in_force: TimeInForce
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    filled_avg_price: Decimal | None = None
    extended_hours: bool = False
    created_at: datetime | None = None
    replaced_by: str | None = None
    updated_at: datetime | None = None  # the last change: a fill, a cancel, a replace

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "held",
        "partially_filled",
        "pending_replace",
        "pending_cancel",
        "calculated",
    }
)


@dataclass(frozen=True, slots=True)
class FillActivity:
    """One execution from the account activities (`GET /v2/account/activities/FILL`).

    Alpaca's trade-update stream does not replay what a client missed; the activities do: every
    fill with its own price and quantity, and the order's cumulative quantity after it
    (`cum_qty`), which identifies the fill across both sources (a trade update's
    `order.filled_qty` is the same number)."""

    id: str  # "<yyyymmddhhmmssmmm>::<uuid>", also the paging token
    order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal  # this execution's shares
    cum_qty: Decimal  # the order's filled quantity after it
    leaves_qty: Decimal
    price: Decimal
    transaction_time: datetime
    order_status: str
    kind: str = "fill"  # Alpaca's `type`: "fill" (the order is done) or "partial_fill"

    @property
    def completes_order(self) -> bool:
        return self.kind == "fill"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to submit. `client_order_id` is always set (deterministic, from the rules)."""

    symbol: str
    side: OrderSide
    qty: Decimal
    kind: OrderKind
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.GTC
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class BarColumns:
    """Many symbols' bars as columns, for the pipeline's frames (the warehouse stores bars as
    DOUBLE: prices here are the JSON numbers the feed sent, not a Decimal per price that would be
    turned straight back into a float). `timestamp` is the bar's RFC 3339 time as sent (UTC)."""

    symbol: list[str]
    timestamp: list[str]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]

    @classmethod
    def empty(cls) -> BarColumns:
        return cls([], [], [], [], [], [], [])

    def __len__(self) -> int:
        return len(self.symbol)


@dataclass(frozen=True, slots=True)
class Clock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class TradingDay:
    date: date
    open: datetime
    close: datetime


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    status: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    last_equity: Decimal | None = None  # equity at 16:00 ET of the previous trading day
