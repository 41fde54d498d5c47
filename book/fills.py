"""What `order.*` events do to the book: fills open, grow, shrink and close positions; a lost
stop is re-placed at once.

The arithmetic (new size, average entry, realized P&L) is `rules.fills`; this module applies it
to the book and says what happened as events and order jobs. Without the broker's
`position_qty`, a complete fill moves the size by its `filled_qty`, and a partial fill waits for
the final one.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from book.applied import FILL_EVENTS
from book.engine import Engine
from book.executor import Job, JobResult
from book.messages import OrderUpdate
from book.orders import VerifyOrder
from book.state import Changes, Held
from position_manager import events
from position_manager.broker_types import STOP_ORDER_TYPES
from position_manager.logging import log_kv
from rules.apply import exit_died, exit_filled, stop_lost
from rules.decisions import CancelOrder, ReplaceStop
from rules.fills import FillKind, fill_kind, grow, quantity_after_fill, reduce, stop_slippage
from rules.model import Side
from rules.quantities import stop_quantity
from rules.stop_orders import replace_stop

log = logging.getLogger(__name__)


def new_quantity(held: Held | None, name: str, upd: OrderUpdate) -> Decimal | None:
    if upd.position_qty is None and name != events.ORDER_FILLED:
        return None
    current = held.position.quantity if held else Decimal(0)
    return quantity_after_fill(current, upd.side, upd.filled_qty, upd.position_qty)


def _known(held: Held | None, upd: OrderUpdate) -> bool:
    """An update for an order the book placed and still tracks (its stop, or a working exit)."""
    if held is None:
        return False
    pos = held.position
    return upd.order_id in (pos.stop_order_id, pos.stop_landing) or (
        pos.working_exit(upd.client_order_id) is not None
    )


def on_order_event(
    engine: Engine, name: str, upd: OrderUpdate, changes: Changes, *, verified: bool = False
) -> Job | None:
    """Apply one order update, unless the book has it already (`book.applied`: the same change
    may come from the trade-update stream and from a catch-up with the broker).

    A fill for an order the book does not track, or for a symbol it does not hold (an entry, a
    trade made by hand, or a forgery), is first looked up at the broker (`VerifyOrder`) and
    applied as the broker tells it (`apply_verification`); `verified` says the update is the
    broker's own word already (a verification, or a catch-up read from the broker)."""
    if name in FILL_EVENTS and not verified and not _known(engine.held.get(upd.symbol), upd):
        if engine.busy(upd.symbol):
            return None  # the host defers a busy symbol's messages; never reached in practice
        return Job(
            upd.symbol, (VerifyOrder(upd.symbol, upd.order_id, upd.client_order_id),), "verify"
        )
    if engine.applied.already_applied(name, upd.order_id, upd.filled_qty):
        log_kv(
            log,
            logging.DEBUG,
            "order update already applied",
            event=name,
            symbol=upd.symbol,
            order_id=upd.order_id,
            filled_qty=upd.filled_qty,
        )
        return None
    counted = (
        name in FILL_EVENTS
        and upd.price is not None
        and (name == events.ORDER_FILLED or upd.position_qty is not None)
    )
    engine.applied.record(name, upd.order_id, upd.filled_qty, changes, counted=counted)
    engine.touch(upd.symbol)
    return _apply_order_event(engine, name, upd, changes)


def _apply_order_event(engine: Engine, name: str, upd: OrderUpdate, changes: Changes) -> Job | None:
    held = engine.held.get(upd.symbol)
    if held is not None and held.position.stop_landing == upd.order_id:
        held.position = held.position.evolve(stop_landing=None)  # confirmed, or gone: either way
        changes.put(held)
        if name == events.ORDER_NEW:  # landed: a resize held back while it was landing is due
            return _fit_stop(engine, held, "stop_landed")
    working = held is not None and held.position.working_exit(upd.client_order_id) is not None
    if name in FILL_EVENTS:
        if held is not None and working:
            done = name == events.ORDER_FILLED
            held.position = exit_filled(held.position, upd.client_order_id, upd.filled_qty, done)
            changes.put(held)
        new_qty = new_quantity(held, name, upd)
        if new_qty is None or upd.price is None:
            return None
        return _on_fill(engine, held, upd, new_qty, changes)
    if name in (events.ORDER_CANCELED, events.ORDER_EXPIRED, events.ORDER_FAILED):
        if held is not None and upd.order_id == held.position.stop_order_id:
            return _on_stop_lost(engine, held, name, upd, changes)
        if held is not None and working:
            return _on_exit_died(engine, held, name, upd, changes)
        if name == events.ORDER_FAILED:
            changes.emit(
                events.POSITION_ERROR,
                {
                    "symbol": upd.symbol,
                    "error_type": "order_failed",
                    "message": upd.reason or "order failed",
                    "order_id": upd.order_id,
                    "client_order_id": upd.client_order_id,
                },
            )
    return None


def apply_verification(engine: Engine, result: JobResult, changes: Changes) -> Job | None:
    """A fill the book did not know, as the broker tells it: its own order (symbol, side, filled
    quantity and average price) and the position it holds now. An order the broker does not
    have, for another symbol, or that has not filled, is reported and dropped."""
    action = result.job.actions[0]
    assert isinstance(action, VerifyOrder)
    outcome = result.outcomes[0] if result.outcomes else None
    order = outcome.order if outcome is not None and outcome.error is None else None
    problem = None
    if outcome is None or outcome.error is not None:
        problem = (
            f"could not ask the broker ({type(outcome.error).__name__ if outcome else 'lease'})"
        )
    elif order is None:
        problem = "the broker has no such order"
    elif order.symbol != action.symbol:
        problem = f"the broker's order is for {order.symbol}"
    elif order.filled_qty <= 0 or order.filled_avg_price is None:
        problem = f"the broker's order has not filled (status {order.status})"
    if problem is not None or order is None:
        changes.emit(
            events.POSITION_ERROR,
            {
                "symbol": action.symbol,
                "error_type": "unverified_order_update",
                "message": f"order update for {action.order_id} not applied: {problem}",
                "order_id": action.order_id,
                "client_order_id": action.client_order_id,
            },
        )
        log_kv(
            log,
            logging.WARNING,
            "order update not confirmed by the broker",
            symbol=action.symbol,
            order_id=action.order_id,
            problem=problem,
        )
        return None
    position = outcome.position if outcome is not None else None
    trusted = OrderUpdate(
        symbol=order.symbol,
        order_id=order.id,
        client_order_id=order.client_order_id,
        side=order.side,
        order_type=order.kind.value,
        filled_qty=order.filled_qty,
        price=order.filled_avg_price,
        position_qty=position.qty if position is not None else Decimal(0),
        reason=None,
    )
    name = events.ORDER_FILLED if order.status == "filled" else events.ORDER_PARTIALLY_FILLED
    return on_order_event(engine, name, trusted, changes, verified=True)


def _on_exit_died(
    engine: Engine, held: Held, name: str, upd: OrderUpdate, changes: Changes
) -> Job | None:
    """An exit that will not fill: re-arm what it was for, and give its shares back to the stop
    (grown to the whole position first, or placed if the exit had cancelled it)."""
    held.position = exit_died(held.position, upd.client_order_id)
    changes.put(held)
    changes.emit(
        events.POSITION_ERROR,
        {
            "symbol": upd.symbol,
            "error_type": "exit_not_filled",
            "message": f"exit {upd.client_order_id} {name.split('.', 1)[1]}: {upd.reason or ''}"
            " (re-armed; the stop covers the position again)",
            "order_id": upd.order_id,
            "client_order_id": upd.client_order_id,
        },
    )
    log_kv(
        log,
        logging.WARNING,
        "exit not filled, re-armed",
        symbol=upd.symbol,
        order_id=upd.order_id,
        client_order_id=upd.client_order_id,
    )
    return _fit_stop(engine, held, "exit_died")


def _on_stop_lost(
    engine: Engine, held: Held, name: str, upd: OrderUpdate, changes: Changes
) -> Job | None:
    held.position = stop_lost(held.position)
    changes.put(held)
    changes.emit(
        events.POSITION_ERROR,
        {
            "symbol": upd.symbol,
            "error_type": "stop_lost",
            "message": f"stop order {upd.order_id} {name.split('.', 1)[1]}: {upd.reason or ''}",
            "order_id": upd.order_id,
        },
    )
    log_kv(
        log, logging.WARNING, "stop lost, re-protecting", symbol=upd.symbol, order_id=upd.order_id
    )
    return engine.protect_job(upd.symbol, "stop_lost")


def _on_fill(
    engine: Engine, held: Held | None, upd: OrderUpdate, new_qty: Decimal, changes: Changes
) -> Job | None:
    price = upd.price
    assert price is not None
    old_qty = held.position.quantity if held else Decimal(0)
    kind = fill_kind(old_qty, new_qty)
    if kind is FillKind.NONE:
        return None  # already applied (a redelivered fill)
    flips = kind is FillKind.FLIP
    if held is not None and kind in (FillKind.CLOSE, FillKind.FLIP, FillKind.REDUCE):
        job = _reduce(engine, held, upd, old_qty, new_qty if not flips else Decimal(0), changes)
        if not flips:
            return job
        held, old_qty = None, Decimal(0)
    if held is None:
        return _open(engine, upd, new_qty, price, changes)
    return _grow(engine, held, upd, old_qty, new_qty, price, changes)


def _open(
    engine: Engine, upd: OrderUpdate, qty: Decimal, price: Decimal, changes: Changes
) -> Job | None:
    token = upd.client_order_id or str(price)
    pos = engine.new_position(upd.symbol, qty, price, token)
    held = Held(pos)
    engine.put(held, changes)
    planned = engine.protect_plan_price(pos)
    changes.emit(
        events.POSITION_OPENED,
        {
            "symbol": upd.symbol,
            "quantity": qty,
            "entry_price": price,
            "stop_price": planned,
            "target_price": pos.target_price,
            "side": pos.side.value,
            "position_key": pos.position_key,
            "order_id": upd.order_id,
            "client_order_id": upd.client_order_id,
        },
    )
    log_kv(log, logging.INFO, "position opened", symbol=upd.symbol, qty=qty, order_id=upd.order_id)
    return engine.protect_job(upd.symbol, "fill")


def _grow(
    engine: Engine,
    held: Held,
    upd: OrderUpdate,
    old_qty: Decimal,
    new_qty: Decimal,
    price: Decimal,
    changes: Changes,
) -> Job | None:
    pos = held.position
    growth = grow(pos.entry_price, old_qty, new_qty, price)
    added, entry = growth.added, growth.entry_price
    pos = pos.evolve(
        quantity=new_qty, entry_price=entry, original_quantity=pos.original_quantity + added
    )
    held.position = pos
    changes.put(held)
    changes.emit(
        events.POSITION_OPENED,
        {
            "symbol": upd.symbol,
            "quantity": new_qty,
            "entry_price": entry,
            "stop_price": pos.stop_price,
            "added": added,
            "order_id": upd.order_id,
        },
    )
    return _fit_stop(engine, held, "grow")


def _fit_stop(engine: Engine, held: Held, cause: str) -> Job | None:
    """Resize the live stop to the position (replace, never cancel-then-place); a stop of the
    right size that came from the fallback is re-planned from the ATR instead (a re-plan held
    back while the stop was landing is due once it has landed)."""
    pos = held.position
    if not pos.is_protected:
        return engine.protect_job(pos.symbol, cause)
    want = stop_quantity(pos.coverable_size)
    if pos.stop_quantity == want or pos.stop_price is None or pos.stop_order_id is None:
        return engine.replan_job(pos.symbol, cause)
    if want == 0:
        decision: CancelOrder | ReplaceStop = CancelOrder(
            pos.symbol, pos.stop_order_id, "no whole share left"
        )
    else:
        decision = replace_stop(
            pos.symbol,
            pos.position_key,
            pos.stop_order_id,
            want,
            pos.stop_price,
            pos.stop_price,
            "shrink",
        )
    return engine.job_for(pos.symbol, [decision], cause)


def _reduce(
    engine: Engine,
    held: Held,
    upd: OrderUpdate,
    old_qty: Decimal,
    new_qty: Decimal,
    changes: Changes,
) -> Job | None:
    pos = held.position
    price = upd.price
    assert price is not None
    reduction = reduce(pos.entry_price, pos.side is Side.LONG, old_qty, new_qty, price)
    closed_qty = reduction.closed_qty
    held.realized_pnl += reduction.realized
    was_stop = upd.order_id == pos.stop_order_id or upd.order_type in STOP_ORDER_TYPES
    # Gap risk, measured: how far from its stop price a stop filled (our stop's known price).
    gap: dict[str, Decimal] = {}
    if was_stop and upd.order_id == pos.stop_order_id and pos.stop_price is not None:
        slip = stop_slippage(pos.side, pos.stop_price, price)
        gap = {
            "stop_price": pos.stop_price,
            "slippage": slip,
            "slippage_pct": slip / pos.stop_price,
        }
    if was_stop and pos.stop_hit_for != upd.order_id:  # a crossing quote may have said it
        changes.emit(
            events.POSITION_STOP_HIT,
            {
                "symbol": upd.symbol,
                "current_price": price,
                "pnl": held.realized_pnl,
                "trigger": "stop_filled",
                "order_id": upd.order_id,
            },
        )
    if new_qty == 0:
        changes.emit(
            events.POSITION_CLOSED,
            {
                "symbol": upd.symbol,
                "exit_price": price,
                "pnl": held.realized_pnl,
                "quantity_closed": closed_qty,
                "reason": "stop" if was_stop else "exit",
                "order_id": upd.order_id,
                "client_order_id": upd.client_order_id,
                **gap,
            },
        )
        leftover = pos.stop_order_id if pos.stop_order_id and not was_stop else None
        engine.drop(upd.symbol, changes)
        log_kv(log, logging.INFO, "position closed", symbol=upd.symbol, order_id=upd.order_id)
        if leftover:  # a stop for a flat position would open a new one when triggered
            return Job(upd.symbol, (CancelOrder(upd.symbol, leftover, "position closed"),), "close")
        return None
    changes.emit(
        events.POSITION_REDUCED,
        {
            "symbol": upd.symbol,
            "price": price,
            "quantity": new_qty,
            "shares": closed_qty,
            "realized_pnl": reduction.realized,
            "pnl": held.realized_pnl,
            "reason": "stop" if was_stop else "exit",
            "order_id": upd.order_id,
            "client_order_id": upd.client_order_id,
            **gap,
        },
    )
    if upd.order_id == pos.stop_order_id and upd.filled_qty >= (pos.stop_quantity or 0):
        pos = stop_lost(pos)  # a partly filled stop: the rest is re-protected
    held.position = pos.evolve(quantity=new_qty)
    changes.put(held)
    return _fit_stop(engine, held, "exit_fill")
