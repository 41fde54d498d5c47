"""Catching up with the broker: what happened while nobody (or no Redis) was listening.

Alpaca's trade-update stream does not replay what a client missed: fills, cancels and replaces
that happen while the worker is down, or while Redis is down (the bridge cannot publish), never
arrive. So on every start, every reconnect and on a timer the book asks the broker itself
(`read_broker`): the orders submitted since the book last caught up (`GET /v2/orders?status=all
&after=`), the fills since then (`GET /v2/account/activities/FILL`), and the orders the book
names that are in neither (its live stops, its working exits). `missed_updates` (pure) turns
each change the book has not applied (`book.applied`) into the `order.*` event the stream should
have carried, in the broker's order of events; `catch_up` applies each one exactly as a live
update is applied (`book.fills.on_order_event`) and publishes it, so the history gets the order,
the fill's real price and the P&L. Then `reconcile` compares the book with positions and open
orders read after the fills, so a position the broker no longer holds has been closed by its
fill before the scan looks.

Exactly once: a change is keyed by the broker's order id and, for a fill, the order's cumulative
quantity after it (`cum_qty`, which a trade update carries as `order.filled_qty`), so the live
update of a change applied here (or the other way round) is recognised and not applied again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from book.applied import AppliedOrders
from book.engine import Engine
from book.executor import Job
from book.fills import on_order_event
from book.messages import parse_order_update
from book.reconcile import reconcile
from book.state import CatchUpCursor, Changes
from broker.errors import OrderNotFoundError
from broker.interface import Broker
from position_manager.broker_types import (
    BrokerOrder,
    BrokerPosition,
    FillActivity,
    OrderSide,
)
from position_manager.errors import InvalidEventError
from position_manager.logging import log_kv
from position_manager.trade_updates import order_event
from rules.reconcile import ReconcileSummary

log = logging.getLogger(__name__)

# How far before its cursor a catch-up reads again: changes stamped just before the cursor may
# have become visible only after it (the ledger makes reading them twice harmless).
OVERLAP: Final = timedelta(minutes=5)
# The trade-update event of each final status; `filled` comes from the fills.
FINAL_UPDATE: Final = {
    "canceled": "canceled",
    "expired": "expired",
    "replaced": "replaced",
    "rejected": "rejected",
}
# An order in these has not been `new` at the broker yet: its update will come when it lands.
NOT_NEW_YET: Final = frozenset({"accepted", "pending_new", "accepted_for_bidding", "rejected"})


@dataclass(frozen=True, slots=True)
class BookReferences:
    """What the book names at the broker: its live stops (by order id), its working exits (by
    client order id) and its symbols. Taken on the host's thread before a read."""

    stop_ids: frozenset[str] = frozenset()
    exit_client_ids: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()


def references(engine: Engine) -> BookReferences:
    held = [h.position for h in engine.held.values()]
    return BookReferences(
        frozenset(p.stop_order_id for p in held if p.stop_order_id),
        frozenset(cid for p in held for cid, _, _ in p.working_exits),
        frozenset(p.symbol for p in held),
    )


@dataclass(frozen=True, slots=True)
class BrokerView:
    """One read of the broker, in this order: its clock, the orders and fills since the cursor,
    positions and open orders (so the positions are no older than the fills), then the orders
    the book or a fill names that the lists did not contain."""

    read_at: datetime  # the broker's time when the read began: the next cursor
    since: datetime | None  # the start of the window read; None: no cursor yet (a first start)
    orders: tuple[BrokerOrder, ...] = ()
    fills: tuple[FillActivity, ...] = ()
    positions: tuple[BrokerPosition, ...] = ()
    open_orders: tuple[BrokerOrder, ...] = ()
    ledger_since: datetime | None = None  # changes before it are never replayed


def read_broker(
    broker: Broker, cursor: CatchUpCursor, refs: BookReferences = BookReferences()
) -> BrokerView:
    """Everything a catch-up and the reconcile after it need (blocking: the broker's calls).

    With no cursor (the book never caught up: a first start, or state from before this existed)
    there is no history to complete: only the snapshot is read, and the ledger starts now."""
    read_at = broker.get_clock().timestamp
    orders: list[BrokerOrder] = []
    fills: list[FillActivity] = []
    since = cursor.caught_up_to - OVERLAP if cursor.caught_up_to is not None else None
    if since is not None:
        orders = broker.list_orders_after(since)
        fills = broker.list_fill_activities(since)
    positions = broker.list_positions()
    open_orders = broker.list_open_orders()
    if since is not None and refs.symbols - {p.symbol for p in positions}:
        # A held position is gone: its closing fill may have come after the first read.
        fills = broker.list_fill_activities(since)
    known = {o.id for o in orders} | {o.id for o in open_orders}
    known_cids = {o.client_order_id for o in orders} | {o.client_order_id for o in open_orders}
    wanted = sorted((refs.stop_ids | {f.order_id for f in fills}) - known)
    for order_id in wanted:
        try:
            orders.append(broker.get_order(order_id))
        except OrderNotFoundError:
            log_kv(log, logging.WARNING, "order not found at the broker", order_id=order_id)
    for client_id in sorted(refs.exit_client_ids - known_cids):
        found = broker.get_order_by_client_id(client_id)
        if found is not None:
            orders.append(found)
    return BrokerView(
        read_at,
        since,
        tuple(orders),
        tuple(fills),
        tuple(positions),
        tuple(open_orders),
        cursor.ledger_since,
    )


@dataclass
class MissedUpdates:
    """The `order.*` events the book has not applied, in the broker's order; `held_back_from`:
    the earliest change held back (a symbol with an order job in flight), where the next
    catch-up must start again."""

    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    held_back_from: datetime | None = None


def _n(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _order_body(order: BrokerOrder | None, fill: FillActivity | None = None) -> dict[str, Any]:
    """The `order` object of a trade update, from the broker's order (or, when the order could
    not be read, from the fill alone)."""
    if order is None:
        assert fill is not None
        return {"id": fill.order_id, "symbol": fill.symbol, "side": fill.side.value}
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.kind.value,
        "qty": _n(order.qty),
        "filled_qty": _n(order.filled_qty),
        "filled_avg_price": _n(order.filled_avg_price),
        "status": order.status,
        "replaced_by": order.replaced_by,
    }


def _event(update: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mapped = order_event(update)
    assert mapped is not None, update["event"]
    name, data = mapped
    return name, {**data, "caught_up": True}


def missed_updates(
    view: BrokerView,
    applied: AppliedOrders,
    quantities: Mapping[str, Decimal],
    held_back: Callable[[str], bool] = lambda symbol: False,
) -> MissedUpdates:
    """The changes in `view` that `applied` does not have, as (event name, data) in the order
    the broker made them: by time; at one time, `new` before fills before final updates (a
    frozen or coarse clock stamps many changes alike; fills keep the broker's order).

    `quantities` is the book's signed quantity per symbol: each missed fill's `position_qty` is
    counted on from it, as the broker's trade update would carry it."""
    by_id = {o.id: o for o in (*view.orders, *view.open_orders)}
    found: list[tuple[datetime, int, int, str, tuple[str, dict[str, Any]]]] = []
    position = dict(quantities)
    out = MissedUpdates()

    def before_the_ledger(at: datetime) -> bool:
        return view.ledger_since is not None and at < view.ledger_since

    def hold(symbol: str, at: datetime) -> bool:
        if not held_back(symbol):
            return False
        if out.held_back_from is None or at < out.held_back_from:
            out.held_back_from = at
        return True

    for seq, fill in enumerate(sorted(view.fills, key=lambda f: f.transaction_time)):
        entry = applied.get(fill.order_id)
        if entry is not None and entry.filled_qty >= fill.cum_qty:
            continue
        if before_the_ledger(fill.transaction_time) or hold(fill.symbol, fill.transaction_time):
            continue
        signed = fill.qty if fill.side is OrderSide.BUY else -fill.qty
        position[fill.symbol] = position.get(fill.symbol, Decimal(0)) + signed
        order = by_id.get(fill.order_id)
        body = _order_body(order, fill)
        body["filled_qty"] = _n(fill.cum_qty)
        body["status"] = "filled" if fill.completes_order else "partially_filled"
        if order is None or order.filled_qty != fill.cum_qty:
            body["filled_avg_price"] = None  # the order's average is known only at its last fill
        update = {
            "event": "fill" if fill.completes_order else "partial_fill",
            "timestamp": fill.transaction_time.isoformat(),
            "order": body,
            "price": _n(fill.price),
            "qty": _n(fill.qty),
            "position_qty": _n(position[fill.symbol]),
        }
        found.append((fill.transaction_time, 1, seq, fill.symbol, _event(update)))

    for seq, order in enumerate(view.orders):
        entry = applied.get(order.id)
        created = order.created_at or view.read_at
        recent = view.since is None or created >= view.since  # older ones were new long ago
        unseen = entry is None and recent and order.status not in NOT_NEW_YET
        unseen = unseen and not before_the_ledger(created)
        if unseen and not hold(order.symbol, created):
            body = {**_order_body(order), "filled_qty": "0", "status": "new"}
            body["filled_avg_price"] = None
            update = {"event": "new", "timestamp": created.isoformat(), "order": body}
            found.append((created, 0, seq, order.symbol, _event(update)))
        final = FINAL_UPDATE.get(order.status)
        updated = order.updated_at or created
        final = None if before_the_ledger(updated) else final
        if final and not (entry is not None and entry.final) and not hold(order.symbol, updated):
            update = {"event": final, "timestamp": updated.isoformat(), "order": _order_body(order)}
            found.append((updated, 2, seq, order.symbol, _event(update)))

    found.sort(key=lambda item: item[:3])
    out.updates = [item[4] for item in found]
    return out


def catch_up(
    engine: Engine,
    view: BrokerView,
    changes: Changes,
    *,
    skip: Callable[[str], bool] | None = None,
) -> int:
    """Apply and publish what the book missed; move the cursor. Returns how many updates.

    Order jobs the updates ask for (a stop for a position opened meanwhile, a resize) are not
    run: the reconcile that follows decides from the broker's positions and open orders.
    Symbols `skip` names (default: those with an order job in flight) are held back, and the
    cursor stays before their first change so the next catch-up reads it again."""
    missed = missed_updates(
        view,
        engine.applied,
        {symbol: held.position.quantity for symbol, held in engine.held.items()},
        skip or engine.busy,
    )
    applied = 0
    for name, data in missed.updates:
        try:
            update = parse_order_update(data)
        except InvalidEventError as exc:
            log_kv(log, logging.WARNING, "missed order update not applied", event=name,
                   order_id=data.get("order_id"), reason=str(exc))  # fmt: skip
            continue
        on_order_event(engine, name, update, changes, verified=True)  # the broker's word
        changes.emit(name, data)
        applied += 1
        log_kv(log, logging.INFO, "missed order update applied", event=name,
               symbol=update.symbol, order_id=update.order_id,
               client_order_id=update.client_order_id, filled_qty=update.filled_qty,
               price=update.price)  # fmt: skip
    cursor = view.read_at
    if view.since is None:
        # A first catch-up: what came before is not in the ledger (it was applied, if at all,
        # before there was one), so no later read replays it.
        changes.ledger_since = view.read_at
    if missed.held_back_from is not None and missed.held_back_from < cursor:
        cursor = missed.held_back_from
    changes.caught_up_to = cursor
    engine.applied.forget_old(changes)
    return applied


def reconcile_with_broker(
    engine: Engine, view: BrokerView, changes: Changes, *, read_since: float | None = None
) -> tuple[list[Job], ReconcileSummary]:
    """Catch up with the broker's history, then bring the book in line with its positions and
    open orders (`book.reconcile`).

    `read_since`: the engine-clock time the read began, when the loop went on meanwhile (a
    background read): a symbol the book changed since then (a fill, an order outcome) is left
    alone, or a position closed by a fill after the read would be adopted again from it."""

    def skip(symbol: str) -> bool:
        if engine.busy(symbol):
            return True
        return read_since is not None and engine.touched_since(symbol, read_since)

    caught = catch_up(engine, view, changes, skip=skip)
    jobs, summary = reconcile(engine, view.positions, view.open_orders, changes, skip=skip)
    if caught:
        log_kv(log, logging.INFO, "caught up with the broker", updates=caught,
               since=view.since.isoformat() if view.since else None,
               read_at=view.read_at.isoformat())  # fmt: skip
    return jobs, summary
