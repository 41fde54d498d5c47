"""The realistic order lifecycle: Alpaca's pending states, latencies and aged-order expiry.

Only used when `EngineConfig.lifecycle == "realistic"` ("instant" is for unit tests only; not
how Alpaca behaves). It imitates alpaca-notes "The order lifecycle is asynchronous" and Alpaca's
`orders-at-alpaca` page:

- an order that can work now answers `new`; one that cannot (a stop outside the regular session,
  a market order before the open) answers `accepted` and turns `new` when its session comes;
  either way it is routed `accept_latency_s` later and fills never appear in the submit answer;
- a cancel (`DELETE` 204) leaves the order `pending_cancel`, still fillable, until it lands;
- a replace (`PATCH`) leaves the old order `pending_replace`, still fillable, and the new one
  `pending_new`; when it lands the old one is `replaced`, unless it filled meanwhile
  (`order_replace_rejected`, and the replacement is dropped as `rejected`);
- GTC orders expire at `expires_at` (created + `gtc_expiry_days`).

Time is the simulator's clock: with a frozen clock nothing lands until a test advances it
(`Simulator.advance_clock` or `Engine.process_pending`), so tests never sleep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from position_manager.session import Session
from simulator.config import EngineConfig
from simulator.order_rules import INVALID, UNPROCESSABLE, OrderSpec, SimApiError, tick_for
from simulator.state import EngineState, SimBook, SimOrder
from simulator.updates import TradeUpdates

# Statuses in which an order is at the exchange and can fill.
WORKING = frozenset({"new", "partially_filled", "pending_cancel", "pending_replace"})
NOT_REPLACEABLE = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})


@dataclass(slots=True)
class Timing:
    """Per-order realistic state the book does not persist."""

    routed_at: datetime  # before this the order cannot fill
    fill_due: datetime | None = None  # set when it first could fill (crossed or elected)
    elected_seq: int | None = None  # a stop fills from a quote after the electing one
    last_fill_seq: int | None = None  # one fill per quote (per-quote liquidity)


@dataclass(slots=True)
class PendingRequest:
    due: datetime
    kind: Literal["cancel", "replace"]
    order_id: str
    new_id: str | None = None  # the replacement, for a replace


def buy_stop_collar(stop: Decimal) -> Decimal:
    """Alpaca turns a buy stop into a stop-limit: limit 4 % above the stop under $50, 2.5 %
    above otherwise, rounded to the tick."""
    pct = Decimal("1.04") if stop < 50 else Decimal("1.025")
    limit = stop * pct
    return limit.quantize(tick_for(limit), rounding=ROUND_HALF_UP)


def can_work(order: SimOrder | OrderSpec, session: Session) -> bool:
    """Whether the order can be at the exchange in `session` (else it sits `accepted`)."""
    if session == Session.REGULAR:
        return True
    return order.extended_hours and session in (Session.PRE, Session.POST)


class Lifecycle:
    def __init__(self, state: EngineState, config: EngineConfig, updates: TradeUpdates) -> None:
        self.state = state
        self.config = config
        self.updates = updates
        self.timing: dict[str, Timing] = {}
        self.pending: list[PendingRequest] = []
        self._resume()

    def _resume(self) -> None:
        """Requests are not in the snapshot: after a restart, land the ones the book shows
        pending at the first chance (as if their latency passed while the simulator was down)."""
        now = self.state.clock.now()
        replacements = {o.replaces: o.id for o in self.book.orders.values() if o.replaces}
        for order in self.book.orders.values():
            if order.status == "pending_cancel":
                self.pending.append(PendingRequest(now, "cancel", order.id))
            elif order.status == "pending_replace" and order.id in replacements:
                new_id = replacements[order.id]
                self.pending.append(PendingRequest(now, "replace", order.id, new_id))

    @property
    def book(self) -> SimBook:
        return self.state.book

    def _later(self, seconds: float) -> datetime:
        return self.state.clock.now() + timedelta(seconds=seconds)

    def timing_of(self, order: SimOrder) -> Timing:
        timing = self.timing.get(order.id)
        if timing is None:  # resumed from a snapshot: count it as routed
            timing = self.timing[order.id] = Timing(routed_at=order.created_at)
        return timing

    # --- submission ----------------------------------------------------------------------------
    def convert(self, spec: OrderSpec) -> OrderSpec:
        """Buy stops become stop-limits with the collar (alpaca-notes, Trading rules)."""
        if spec.type == "stop" and spec.side == "buy" and spec.stop_price is not None:
            return replace(spec, type="stop_limit", limit_price=buy_stop_collar(spec.stop_price))
        return spec

    def created(self, order: SimOrder) -> None:
        """A new order: `new` (and its update) if it can work now, else `accepted`; GTC orders
        get `expires_at`."""
        now = order.created_at
        if order.time_in_force == "gtc":
            order.expires_at = now + timedelta(days=self.config.gtc_expiry_days)
        self.timing[order.id] = Timing(routed_at=self._later(self.config.accept_latency_s))
        if order.replaces is not None:
            order.status = "pending_new"
        elif can_work(order, self.state.clock.session()):
            order.status = "new"
            self.updates.emit("new", order)
        else:
            order.status = "accepted"

    # --- cancel and replace --------------------------------------------------------------------
    def request_cancel(self, order: SimOrder) -> None:
        if order.status == "filled":
            raise SimApiError(422, UNPROCESSABLE, 'order is already in "filled" state')
        if order.status == "pending_replace":
            self.updates.emit("order_cancel_rejected", order, reason="order is pending replacement")
            raise SimApiError(422, UNPROCESSABLE, 'order is already in "pending_replace" state')
        if order.status == "pending_cancel":
            return  # already requested: Alpaca answers 204 again
        if not order.is_open:
            raise SimApiError(422, UNPROCESSABLE, f'order is already in "{order.status}" state')
        order.status, order.updated_at = "pending_cancel", self.state.clock.now()
        self.state.index(order)
        self.updates.emit("pending_cancel", order)
        due = self._later(self.config.accept_latency_s)
        self.pending.append(PendingRequest(due, "cancel", order.id))

    def check_replaceable(self, old: SimOrder, spec: OrderSpec) -> None:
        if old.status in NOT_REPLACEABLE:
            raise SimApiError(
                422, UNPROCESSABLE, f'order is in "{old.status}" state and cannot be replaced'
            )
        same = (
            spec.qty == old.qty
            and spec.time_in_force == old.time_in_force
            and spec.limit_price == old.limit_price
            and (old.type == "trailing_stop" or spec.stop_price == old.stop_price)
            and spec.trail_percent == old.trail_percent
            and spec.trail_price == old.trail_price
        )
        if same:
            raise SimApiError(422, INVALID, "order parameters are not changed")

    def request_replace(self, old: SimOrder, new: SimOrder) -> None:
        old.status, old.updated_at = "pending_replace", self.state.clock.now()
        self.state.index(old)
        self.updates.emit("pending_replace", old)
        due = self._later(self.config.accept_latency_s)
        self.pending.append(PendingRequest(due, "replace", old.id, new.id))

    # --- time passing --------------------------------------------------------------------------
    def process(self) -> list[SimOrder]:
        """Land due requests, route accepted orders whose session came, expire aged GTC
        orders. Returns the orders that may fill now (the caller offers them to the Matcher)."""
        now = self.state.clock.now()
        changed = False
        due = [p for p in self.pending if p.due <= now]
        self.pending = [p for p in self.pending if p.due > now]
        for request in sorted(due, key=lambda p: p.due):
            changed = True
            if request.kind == "cancel":
                self._land_cancel(self.book.orders[request.order_id], now)
            elif request.new_id is not None:
                self._land_replace(
                    self.book.orders[request.order_id], self.book.orders[request.new_id], now
                )
        session = self.state.clock.session()
        for ids in list(self.state.open_by_symbol.values()):
            for oid in sorted(ids):
                order = self.book.orders[oid]
                if order.status == "accepted" and can_work(order, session):
                    order.status, order.updated_at = "new", now
                    self.timing_of(order).routed_at = self._later(self.config.accept_latency_s)
                    self.updates.emit("new", order)
                    changed = True
                elif (
                    order.time_in_force == "gtc"
                    and order.expires_at is not None
                    and order.expires_at <= now
                ):
                    order.status, order.expired_at, order.updated_at = "expired", now, now
                    self.state.index(order)
                    self.updates.emit("expired", order)
                    changed = True
        if changed:
            self.updates.changed()
        return [
            self.book.orders[oid]
            for ids in list(self.state.open_by_symbol.values())
            for oid in sorted(ids)
        ]

    def _land_cancel(self, order: SimOrder, now: datetime) -> None:
        if not order.is_open:
            return  # it filled (or expired) before the cancel landed
        order.status, order.canceled_at, order.updated_at = "canceled", now, now
        self.state.index(order)
        self.updates.emit("canceled", order)

    def _land_replace(self, old: SimOrder, new: SimOrder, now: datetime) -> None:
        if old.status != "pending_replace":  # it filled before the replacement landed
            self.updates.emit(
                "order_replace_rejected", old, reason=f'order is already in "{old.status}" state'
            )
            new.status, new.failed_at, new.updated_at = "rejected", now, now
            self.state.index(new)
            return
        old.status, old.updated_at, old.replaced_at = "replaced", now, now
        old.replaced_by = new.id
        self.state.index(old)
        self.updates.emit("replaced", old)
        new.status, new.updated_at = "new", now
        self.timing_of(new).routed_at = now
        self.updates.emit("new", new)
