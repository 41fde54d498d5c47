"""Protection outside regular hours (opt-in, `EXTENDED_HOURS_PROTECTION`).

Alpaca's stop orders do not trigger in the pre-market or after-hours: a position can fall
through its stop after the close with nothing happening until the open, and then fill at the
opening gap. With the opt-in, a quote in PRE or POST that breaches the live stop exits the whole
position with an extended-hours DAY limit at a marketable price (`EXTENDED_HOURS_LIMIT_OFFSET`
through the quote), the stop cancelled first (Alpaca reserves its shares), as the regular
session's emergency exit does (`stop_breach`, its deterministic client order id). If the limit
does not fill before the extended session ends, the exit dies with it and the normal path puts
a stop back on what is left (`book.fills` exit-died), live from the open.
"""

from __future__ import annotations

from decimal import Decimal

from position_manager.session import Session
from rules.decisions import CancelOrder, Decision
from rules.model import Position, Side
from rules.order_ids import emergency_exit_order_id
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.protection import is_breached
from rules.session_policy import ExitStyle

EXTENDED_SESSIONS = frozenset({Session.PRE, Session.POST})


def ran_away(side: Side, limit: Decimal, price: Decimal, offset: Decimal) -> bool:
    """The price moved through a resting exit limit by more than the offset: a sell limit
    above a falling price (a buy limit below a rising one) will not fill."""
    if side is Side.LONG:
        return price < limit * (1 - offset)
    return price > limit * (1 + offset)


def extended_hours_exit(
    position: Position, price: Decimal, session: Session, params: RuleParams
) -> list[Decision]:
    """The exit for a stop breached outside regular hours; empty when not opted in, in another
    session, with no stop level known, not breached, or when a working exit already holds every
    share. With a live stop it is cancelled first; without one (cancelled to re-price the exit,
    the stop not back yet) the exit goes alone: in PRE no other rule would send one.

    A working breach exit whose limit the price ran away from is cancelled (in any session: a
    DAY extended-hours limit also rests into the open); when it dies the next breaching quote
    sends the exit again at that quote's price, with the next generation's client order id."""
    stop = position.stop_price
    if not params.extended_hours_protection:
        return []
    resting = position.breach_exit
    if resting is not None:
        order_id, limit = resting
        offset = params.extended_hours_limit_offset
        if ran_away(position.side, limit, price, offset):
            return [CancelOrder(position.symbol, order_id, "re-price the extended-hours exit")]
        return []
    if session not in EXTENDED_SESSIONS:
        return []
    if stop is None or not is_breached(position.side, stop, price):
        return []  # no stop level known, or not breached: the other rules decide
    return exit_with_stop_fitted(
        position,
        position.coverable_size,
        price,
        ExitStyle.EXTENDED_LIMIT,
        "stop_breach",
        emergency_exit_order_id(position.position_key, stop, position.exit_generation),
        params,
    )
