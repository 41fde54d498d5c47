"""Bringing the book in line with the broker: the worker's startup scan, `command.reconcile`, and
the Dagster jobs that act while the worker is down all go through `adopt_position` here.

All positions; all open orders (the adapter pages past 500); stops of every type matched to a
position by symbol and closing side (`rules.reconcile`). A missing stop gets an ATR stop, a stop
of the wrong size is replaced, duplicates and stops without a position are cancelled. Persisted
state (best price, profit levels, earnings date) is merged in; the broker is the truth for
quantity, entry price and which stop is live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

from book.engine import Engine
from book.executor import Job
from book.state import Changes, Held
from position_manager import events
from position_manager.broker_types import BrokerOrder, BrokerPosition
from position_manager.logging import log_kv
from rules.apply import stop_lost
from rules.decisions import CancelOrder, Decision
from rules.model import Position, Side
from rules.order_ids import placed_for
from rules.protection import planned_stop_price, protect_decisions
from rules.protection_order import Urgency, urgency
from rules.reconcile import (
    ReconcileSummary,
    SymbolReconciliation,
    orphan_stops,
    reconcile_symbol,
)

log = logging.getLogger(__name__)


def adopt_position(
    engine: Engine,
    bp: BrokerPosition,
    orders: Sequence[BrokerOrder],
    changes: Changes,
) -> tuple[Held, SymbolReconciliation]:
    """One broker position merged into the book, its live stop matched.

    The broker is the truth for quantity, entry price, the latest price and which stop is live;
    the persisted state keeps best price, profit levels and the report date already reduced for.
    A position we had no state for is tracked from now on, with a `position.opened` (adopted) so
    history has its size, side and entry like any other.
    """
    symbol = bp.symbol
    side = Side.LONG if bp.qty > 0 else Side.SHORT
    held = engine.held.get(symbol)
    if held is not None and held.position.side is side:
        pos = held.position
        grown = max(pos.original_quantity, abs(bp.qty))
        pos = pos.evolve(quantity=bp.qty, entry_price=bp.avg_entry_price, original_quantity=grown)
    else:
        held = Held(
            engine.new_position(symbol, bp.qty, bp.avg_entry_price, str(bp.avg_entry_price))
        )
        pos = held.position
        changes.emit(
            events.POSITION_OPENED,
            {
                "symbol": symbol,
                "quantity": bp.qty,
                "entry_price": bp.avg_entry_price,
                "side": side.value,
                "position_key": pos.position_key,
                "adopted": True,
            },
        )
    if bp.current_price is not None and bp.current_price > 0:
        pos = pos.evolve(last_price=bp.current_price)
    pos = pos.evolve(working_exits=_working_at_broker(pos, orders))
    result = reconcile_symbol(pos, list(orders))
    kept = result.kept_stop
    if kept is not None:
        previous = pos.stop_order_id
        same_price = kept.stop_price is None or kept.stop_price == pos.stop_price
        pos = pos.evolve(
            stop_order_id=kept.id,
            # the book's own spelling when the broker's is the same number ("104.5" = "104.50")
            stop_price=pos.stop_price if same_price else kept.stop_price,
            stop_quantity=kept.qty,
            # the book's basis holds for the level it knows; another level's origin is unknown
            stop_basis=pos.stop_basis if same_price else None,
        )
        if kept.id != previous and placed_for(kept.client_order_id, pos.position_key):
            # Our own stop that the book did not know: placed or replaced just before a crash
            # (the answer was never recorded). The history learns of it here.
            changes.emit(
                events.POSITION_STOP_SET,
                {
                    "symbol": symbol,
                    "stop_price": pos.stop_price,
                    "stop_order_id": kept.id,
                    "qty": kept.qty,
                    "client_order_id": kept.client_order_id,
                    "target_price": pos.target_price,
                    "reason": "adopted",
                    "basis": pos.stop_basis,
                    "replaces": previous,
                },
            )
    elif pos.stop_order_id is not None:
        pos = stop_lost(pos)  # our stop is gone: its client id is spent
    held.position = pos.evolve(session=engine.session, stop_landing=None)  # the broker's word
    engine.put(held, changes)
    return held, result


def _working_at_broker(
    pos: Position, orders: Sequence[BrokerOrder]
) -> tuple[tuple[str, Decimal, Decimal], ...]:
    """The working exits the broker still has open, with what they filled so far (the broker's
    quantity already counts it). One it no longer has filled or died while we were not looking:
    the broker's quantity says which, and its shares are the stop's again."""
    open_by_id = {o.client_order_id: o for o in orders if o.symbol == pos.symbol and o.is_open}
    return tuple(
        (cid, ordered, open_by_id[cid].filled_qty)
        for cid, ordered, _ in pos.working_exits
        if cid in open_by_id
    )


def reconcile(
    engine: Engine,
    positions: Sequence[BrokerPosition],
    orders: Sequence[BrokerOrder],
    changes: Changes,
    *,
    skip: Callable[[str], bool] | None = None,
) -> tuple[list[Job], ReconcileSummary]:
    """Bring the book in line with the broker; return the order jobs that finish the job.

    Symbols with an order job in flight, and those `skip` names (the book changed them after
    the broker was read: the snapshot is the older word), are left for the next reconcile."""

    def leave(symbol: str) -> bool:
        return engine.busy(symbol) or (skip is not None and skip(symbol))

    summary = ReconcileSummary()
    jobs: list[Job] = []
    urgent: dict[str, Urgency] = {}  # the unprotected, by `rules.protection_order`
    order_list = list(orders)
    seen: set[str] = set()
    for bp in positions:
        if bp.qty == 0:
            continue
        symbol = bp.symbol
        seen.add(symbol)
        summary.positions += 1
        if leave(symbol):
            continue  # an order change is in flight; the next reconcile looks again
        held, result = adopt_position(engine, bp, order_list, changes)
        pos = held.position
        decisions: list[Decision] = list(result.decisions)
        if result.kept_stop is not None:
            summary.protected += 1
            summary.duplicates_to_cancel += [
                d.order_id for d in decisions if isinstance(d, CancelOrder)
            ]
            if any(getattr(d, "reason", "") == "shrink" for d in decisions):
                summary.stops_to_resize.append(symbol)
        else:
            atr = engine.risk_for(symbol).atr
            decisions += protect_decisions(pos, atr, pos.last_price, engine.params)
            summary.stops_to_place.append(symbol)
            planned = planned_stop_price(pos, atr, engine.params)
            urgent[symbol] = urgency(pos, pos.last_price, planned)
        engine.retry.forget(symbol)
        if decisions:
            jobs.append(Job(symbol, tuple(decisions), "reconcile"))
    for symbol in [s for s in engine.held if s not in seen and not leave(s)]:
        changes.emit(
            events.POSITION_CLOSED,
            {
                "symbol": symbol,
                "exit_price": None,
                "pnl": engine.held[symbol].realized_pnl,
                "reason": "not held at the broker",
            },
        )
        engine.drop(symbol, changes)
    by_symbol: dict[str, list[Decision]] = {}
    for cancel in orphan_stops(seen, order_list):
        by_symbol.setdefault(cancel.symbol, []).append(cancel)
        summary.orphans_to_cancel.append(cancel.order_id)
    jobs += [Job(s, tuple(d), "orphan") for s, d in by_symbol.items() if not leave(s)]
    # Protection first when the budget is short: the unprotected, most urgent first, then the
    # resizes and cancels (the order the host submits them is the order they meet the budget).
    last = Urgency(2, Decimal(0))
    jobs.sort(key=lambda job: urgent.get(job.symbol, last) if job.cause == "reconcile" else last)
    summary.requests = sum(len(job.actions) for job in jobs)
    log_kv(
        log,
        logging.INFO,
        "reconciled with the broker",
        positions=summary.positions,
        protected=summary.protected,
        stops_to_place=len(summary.stops_to_place),
        stops_to_resize=len(summary.stops_to_resize),
        duplicates=len(summary.duplicates_to_cancel),
        orphans=len(summary.orphans_to_cancel),
    )
    return jobs, summary
