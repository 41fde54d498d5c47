"""What an executed decision changes in the position's own state.

The worker applies a decision only once the broker accepted it, one decision at a time, so a
crash between two steps leaves a state that the next evaluation continues from (and the
deterministic client order ids make any re-sent step harmless).

Caveat for callers: a re-sent PlaceStop whose id was already used returns the order that id
names, which may no longer be open (cancelled by hand, expired). Only apply a stop that is open;
otherwise call `stop_lost` and place the next generation.
"""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import CancelOrder, Decision, PlaceStop, ReplaceStop, SubmitExit
from rules.model import Position, StopBasis
from rules.order_ids import exit_reason_of, report_date_of
from rules.profit_taking import level_of


def basis_after(position: Position, decision: PlaceStop | ReplaceStop) -> StopBasis | None:
    """Where the stop level comes from once `decision` is applied: a new stop says its own, a
    trail makes it "trailed", a re-plan "atr"; a resize (shrink, restore) keeps the level and so
    its basis."""
    if isinstance(decision, PlaceStop):
        return decision.basis
    if decision.reason == "trail":
        return "trailed"
    if decision.reason == "replan":
        return "atr"
    return position.stop_basis


def apply_executed(position: Position, decision: Decision, broker_order_id: str | None) -> Position:
    if isinstance(decision, PlaceStop | ReplaceStop):
        return position.evolve(
            stop_order_id=broker_order_id,
            stop_price=decision.stop_price,
            stop_quantity=decision.qty,
            stop_basis=basis_after(position, decision),
        )
    if isinstance(decision, CancelOrder):
        if decision.order_id == position.stop_order_id:
            # Our stop cancelled (for a full exit): its client id is spent, like a lost stop's.
            return stop_lost(position)
        if position.breach_exit is not None and decision.order_id == position.breach_exit[0]:
            # An extended-hours exit cancelled to re-price it: asked once; its `canceled`
            # update re-arms it and brings the stop back.
            return position.evolve(breach_exit=None)
        return position
    if isinstance(decision, SubmitExit):
        if decision.reason == "pre_earnings":
            return position.evolve(earnings_reduced_for=report_date_of(decision.client_order_id))
        levels = level_of(decision.reason)
        if levels:
            return position.evolve(profit_levels_taken=position.profit_levels_taken | levels)
    return position


def exit_working(
    position: Position, client_order_id: str, ordered: Decimal, filled: Decimal
) -> Position:
    """An accepted exit that has not completely filled: its unfilled shares are held for it."""
    others = tuple(w for w in position.working_exits if w[0] != client_order_id)
    if filled >= ordered:
        return position.evolve(working_exits=others)
    return position.evolve(working_exits=(*others, (client_order_id, ordered, filled)))


def exit_filled(position: Position, client_order_id: str, filled: Decimal, done: bool) -> Position:
    """A fill of a working exit: what it sold is taken; when done it holds nothing any more."""
    working = position.working_exit(client_order_id)
    if working is None:
        return position
    _, ordered, before = working
    if done:
        position = exit_working(position, client_order_id, ordered, ordered)
        if exit_reason_of(client_order_id) == "pre_earnings":
            position = position.evolve(earnings_unsold=None)  # this report date is done
        if exit_reason_of(client_order_id) == "stop_breach":
            position = position.evolve(breach_exit=None)
        return position
    return exit_working(position, client_order_id, ordered, max(before, filled))


def exit_died(position: Position, client_order_id: str) -> Position:
    """A working exit expired, was cancelled or rejected: what it did not sell is not taken.

    Its profit level (or earnings date) is re-armed, so the rules decide it again on the next
    quote, with the next exit generation's client order id (the dead one is spent). Profit
    levels sell down to a target, so a level whose exit filled in part sells only the rest.
    """
    working = position.working_exit(client_order_id)
    if working is None:
        return position
    pos = position.evolve(
        working_exits=tuple(w for w in position.working_exits if w[0] != client_order_id),
        exit_generation=position.exit_generation + 1,
    )
    reason = exit_reason_of(client_order_id)
    if reason == "stop_breach":
        pos = pos.evolve(breach_exit=None)
    if reason == "pre_earnings":
        if pos.earnings_reduced_for == report_date_of(client_order_id):
            _, ordered, filled = working
            pos = pos.evolve(earnings_reduced_for=None, earnings_unsold=ordered - filled)
    elif reason is not None:
        pos = pos.evolve(profit_levels_taken=pos.profit_levels_taken - level_of(reason))
    return pos


def stop_lost(position: Position) -> Position:
    """The stop order is gone (cancelled, expired, rejected): the next stop needs a new id."""
    return position.evolve(
        stop_order_id=None, stop_quantity=None, stop_generation=position.stop_generation + 1
    )
