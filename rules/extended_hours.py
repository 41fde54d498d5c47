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
from rules.decisions import Decision
from rules.model import Position
from rules.order_ids import emergency_exit_order_id
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.protection import is_breached
from rules.session_policy import ExitStyle

EXTENDED_SESSIONS = frozenset({Session.PRE, Session.POST})


def extended_hours_exit(
    position: Position, price: Decimal, session: Session, params: RuleParams
) -> list[Decision]:
    """The exit for a stop breached outside regular hours; empty when not opted in, in another
    session, unprotected (the protection rules handle that), not breached, or when a working
    exit already holds every share."""
    stop = position.stop_price
    if not params.extended_hours_protection or session not in EXTENDED_SESSIONS:
        return []
    if position.stop_order_id is None or stop is None:
        return []
    if not is_breached(position.side, stop, price):
        return []
    return exit_with_stop_fitted(
        position,
        position.coverable_size,
        price,
        ExitStyle.EXTENDED_LIMIT,
        "stop_breach",
        emergency_exit_order_id(position.position_key, stop, position.exit_generation),
        params,
    )
