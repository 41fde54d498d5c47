"""One quote in, decisions and events out: the per-quote rule pass the worker runs.

Order of concerns: track (best price, P&L), detect (stop / target crossed), protect (an
unprotected position gets its stop or, if already breached, an exit), then at most one trading
action: profit-taking beats trailing, because a partial exit re-sizes the stop anyway. A stop
placed from the fallback is re-planned from the ATR (tightened, never loosened) before it trails,
in every session: like placing a missing stop, it only ever adds protection.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from position_manager import events
from position_manager.session import Session
from rules.decisions import Decision, RuleEvent, SubmitExit
from rules.extended_hours import extended_hours_exit
from rules.model import Position, Quote, Side
from rules.params import RuleParams
from rules.pnl import Pnl, unrealized_pnl
from rules.profit_taking import profit_taking_decisions
from rules.protection import (
    escalate_resting_stop,
    is_breached,
    protect_decisions,
    resting_buy_stop,
    restore_decisions,
)
from rules.quantities import stop_quantity
from rules.replan import atr_replan
from rules.session_policy import policy_for
from rules.trailing import propose_trailing_stop, update_best_price


@dataclass(frozen=True, slots=True)
class QuoteEvaluation:
    position: Position  # with best price, last price and session updated (flags unchanged)
    price: Decimal
    session: Session
    decisions: tuple[Decision, ...]
    events: tuple[RuleEvent, ...]

    @property
    def pnl(self) -> Pnl:
        """The position's unrealized P&L at the quote's price. Computed when asked: the worker
        asks only when it publishes a mark (throttled), not on every held quote. The evaluation
        changes no quantity or entry, so it is the P&L of the position the quote began with."""
        return unrealized_pnl(self.position, self.price, self.session)


def _said(pos: Position, price: Decimal, session: Session, **fields: Any) -> dict[str, Any]:
    """An event's data: the symbol, the price and the P&L there, then `fields`."""
    pnl = unrealized_pnl(pos, price, session).unrealized
    return {"symbol": pos.symbol, "current_price": price, "pnl": pnl, **fields}


def _crossed(
    side: Side, level: Decimal | None, before: Decimal | None, now: Decimal, *, stop: bool
) -> bool:
    """True on the quote that first reaches `level` (so one crossing is one event)."""
    if level is None:
        return False
    # A long's stop is crossed downward and its target upward; a short's the other way.
    downward = (side is Side.LONG) == stop
    reached = now <= level if downward else now >= level
    was = before is not None and (before <= level if downward else before >= level)
    return reached and not was


def evaluate_quote(
    position: Position,
    quote: Quote,
    session: Session,
    params: RuleParams,
    atr: Decimal | None = None,
) -> QuoteEvaluation:
    price = quote.price
    previous = position.last_price
    pos = position.evolve(
        best_price=update_best_price(position, price),
        last_price=price,
        last_updated=quote.timestamp,
        session=session,
    )
    policy = policy_for(session)
    out_events: list[RuleEvent] = []
    live_stop = pos.stop_order_id
    if (
        live_stop is not None
        and pos.stop_hit_for != live_stop
        and _crossed(pos.side, pos.stop_price, previous, price, stop=True)
    ):
        out_events.append(
            RuleEvent(
                events.POSITION_STOP_HIT, _said(pos, price, session, stop_price=pos.stop_price)
            )
        )
        pos = pos.evolve(stop_hit_for=live_stop)
    if _crossed(pos.side, pos.target_price, previous, price, stop=False):
        out_events.append(
            RuleEvent(
                events.POSITION_TARGET_HIT,
                _said(pos, price, session, target_price=pos.target_price),
            )
        )

    decisions: list[Decision] = []
    # The hit must predate this quote (`position`, not `pos`): the crossing quote gives the stop
    # its chance to fill; a later one still above the collar means it rests.
    if policy.exit_style is not None and resting_buy_stop(position, price):
        out_events.append(
            RuleEvent(
                events.ALERT_STOP_NOT_FILLED,
                _said(
                    pos,
                    price,
                    session,
                    stop_price=pos.stop_price,
                    message=f"{pos.symbol}: buy stop {pos.stop_price} triggered but rests "
                    f"unfilled at {price} (above its collar); covering with a marketable order",
                ),
            )
        )
        decisions = escalate_resting_stop(pos, price, policy.exit_style, params)
        # The hit was reported when the stop was crossed: the covering exit is the same hit.
        exit_ids = [d.client_order_id for d in decisions if isinstance(d, SubmitExit)]
        if exit_ids:
            pos = pos.evolve(stop_hit_for=exit_ids[0])
        return QuoteEvaluation(pos, price, session, tuple(decisions), tuple(out_events))
    breach_exit = extended_hours_exit(pos, price, session, params)
    if breach_exit:  # outside regular hours the broker would not act on the stop: we do
        exits = [d.client_order_id for d in breach_exit if isinstance(d, SubmitExit)]
        if exits and any(e.name == events.POSITION_STOP_HIT for e in out_events):
            # This quote's crossing said the hit already: the exit is the same hit.
            pos = pos.evolve(stop_hit_for=exits[0])
        return QuoteEvaluation(pos, price, session, tuple(breach_exit), tuple(out_events))
    if not pos.is_protected:
        decisions = protect_decisions(pos, atr, price, params)
        cannot_carry_a_stop = stop_quantity(pos.coverable_size) == 0
        if not decisions and cannot_carry_a_stop and policy.take_profit and policy.exit_style:
            # Under one share: no GTC stop can cover it, so it takes profit with DAY exits.
            decisions = profit_taking_decisions(pos, price, policy.exit_style, params)
    elif policy.take_profit and policy.exit_style is not None:
        decisions = profit_taking_decisions(pos, price, policy.exit_style, params)
    if not decisions and pos.is_protected:
        decisions = restore_decisions(pos)
    if not decisions and pos.stop_basis == "fallback":
        replan = atr_replan(pos, atr, price, params)
        decisions = [replan] if replan else []
    trailing_allowed = policy.trail_stops and pos.stop_price is not None
    if not decisions and trailing_allowed and not is_breached(pos.side, pos.stop_price, price):  # type: ignore[arg-type]
        trail = propose_trailing_stop(pos, price, params)
        decisions = [trail] if trail else []
    return QuoteEvaluation(pos, price, session, tuple(decisions), tuple(out_events))
