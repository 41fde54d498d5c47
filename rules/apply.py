"""What an executed decision changes in the position's own state.

The worker applies a decision only once the broker accepted it, one decision at a time, so a
crash between two steps leaves a state that the next evaluation continues from (and the
deterministic client order ids make any re-sent step harmless).

Caveat for callers: a re-sent PlaceStop whose id was already used returns the order that id
names, which may no longer be open (cancelled by hand, expired). Only apply a stop that is open;
otherwise call `stop_lost` and place the next generation.
"""

from __future__ import annotations

from rules.decisions import CancelOrder, Decision, PlaceStop, ReplaceStop, SubmitExit
from rules.model import Position
from rules.order_ids import report_date_of
from rules.profit_taking import level_of


def apply_executed(position: Position, decision: Decision, broker_order_id: str | None) -> Position:
    if isinstance(decision, PlaceStop | ReplaceStop):
        return position.evolve(
            stop_order_id=broker_order_id,
            stop_price=decision.stop_price,
            stop_quantity=decision.qty,
        )
    if isinstance(decision, CancelOrder):
        if decision.order_id == position.stop_order_id:
            return position.evolve(stop_order_id=None, stop_quantity=None)
        return position
    if isinstance(decision, SubmitExit):
        if decision.reason == "pre_earnings":
            return position.evolve(earnings_reduced_for=report_date_of(decision.client_order_id))
        levels = level_of(decision.reason)
        if levels:
            return position.evolve(profit_levels_taken=position.profit_levels_taken | levels)
    return position


def stop_lost(position: Position) -> Position:
    """The stop order is gone (cancelled, expired, rejected): the next stop needs a new id."""
    return position.evolve(
        stop_order_id=None, stop_quantity=None, stop_generation=position.stop_generation + 1
    )
