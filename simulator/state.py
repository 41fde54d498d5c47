"""The simulator's state: its book (orders, positions, cash, last quotes) and `EngineState`,
the one object the engine's parts share.

`SimBook` is what the snapshot persists. `EngineState` adds what the engine derives from the book
(open orders per symbol, open DAY orders, the last session seen) and the lock that guards all of
it, so `AccountRules`, `Matcher` and `OrderDesk` each receive the same state in their
constructors instead of sharing fields through a common host class.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from position_manager.session import Session
from simulator.clock import SimClock
from simulator.config import EngineConfig

OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "partially_filled",
        "pending_new",
        "held",
        "pending_cancel",  # realistic lifecycle only: still open (and fillable) until it lands
        "pending_replace",
    }
)


@dataclass(slots=True)
class SimOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str  # buy | sell
    type: str  # market | limit | stop | stop_limit | trailing_stop
    time_in_force: str  # day | gtc
    qty: Decimal
    status: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime
    extended_hours: bool = False
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_percent: Decimal | None = None
    trail_price: Decimal | None = None
    hwm: Decimal | None = None
    triggered: bool = False  # a stop that has turned into a market/limit order
    expires_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    replaced_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    position_intent: str | None = None  # buy_to_open | buy_to_close | sell_to_open | ...

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(slots=True)
class SimPosition:
    symbol: str
    qty: Decimal  # negative for a short
    avg_entry_price: Decimal
    lastday_price: Decimal | None = None


@dataclass(slots=True)
class SimQuote:
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal | None
    timestamp: datetime

    @property
    def mark(self) -> Decimal:
        """The price positions are valued at: last trade, else the mid."""
        return self.last if self.last is not None else (self.bid + self.ask) / 2


@dataclass(slots=True)
class SimFill:
    """One execution, as the account activities report it (`GET /v2/account/activities/FILL`)."""

    id: str  # "<yyyymmddhhmmssmmm New York>::<uuid>", Alpaca's form and its paging token
    order_id: str
    symbol: str
    side: str
    qty: Decimal  # this execution
    cum_qty: Decimal  # the order's filled quantity after it
    leaves_qty: Decimal
    price: Decimal
    transaction_time: datetime
    order_status: str  # the order's status right after this execution
    type: str  # "fill" (the order is done) | "partial_fill"


@dataclass(slots=True)
class SimBook:
    account_id: str
    account_number: str
    cash: Decimal
    created_at: datetime
    orders: dict[str, SimOrder] = field(default_factory=dict)  # in submission order
    client_ids: dict[str, str] = field(default_factory=dict)  # client_order_id -> order id
    positions: dict[str, SimPosition] = field(default_factory=dict)
    quotes: dict[str, SimQuote] = field(default_factory=dict)
    last_order_ts: datetime | None = None
    fills: list[SimFill] = field(default_factory=list)  # every execution, oldest first
    # Alpaca's `last_equity` (equity at the previous trading day's close): the last equity
    # computed on each New York date; when the date moves on, the previous one's is the close.
    equity_date: str | None = None
    equity_on_date: Decimal | None = None
    last_equity: Decimal | None = None


def new_book(config: EngineConfig, now: datetime) -> SimBook:
    """An empty account with `config.starting_cash` and fresh ids."""
    return SimBook(
        account_id=str(uuid.uuid4()),
        account_number=f"PA{uuid.uuid4().int % 10**10:010d}",
        cash=config.starting_cash,
        created_at=now,
    )


class EngineState:
    """The book, its indexes, the clock and the lock: everything the engine's parts share.

    All mutations hold `lock` (re-entrant): HTTP handlers, the quote consumer and tests call
    concurrently, and one operation (a submit that fills) passes through several parts.
    """

    def __init__(self, clock: SimClock, book: SimBook) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.book = book
        self.open_by_symbol: dict[str, set[str]] = {}  # symbol -> ids of its open orders
        self.day_orders: set[str] = set()  # ids of open DAY orders (they expire)
        for order in self.book.orders.values():
            self.index(order)
        self.last_session: Session | None = None  # waiting orders are retried when it changes
        # Realistic lifecycle only (not persisted: after a restart orders count as routed).
        self.quote_seq: dict[str, int] = {}  # symbol -> how many quotes have arrived
        self.quote_seen_at: dict[str, datetime] = {}  # symbol -> clock time of the last quote

    def index(self, order: SimOrder) -> None:
        """Keep the indexes current after `order` was created or changed status."""
        if order.is_open:
            self.open_by_symbol.setdefault(order.symbol, set()).add(order.id)
            if order.time_in_force == "day":
                self.day_orders.add(order.id)
        else:
            self.open_by_symbol.get(order.symbol, set()).discard(order.id)
            self.day_orders.discard(order.id)

    def replace_book(self, book: SimBook) -> None:
        """Start over on a new, empty `book` (so the indexes start empty too)."""
        self.book = book
        self.open_by_symbol.clear()
        self.day_orders.clear()
