"""The position engine: quotes and order outcomes in, state changes, events and order jobs out.

It owns the in-memory book (symbol -> `Held`) and calls the pure rules; it never talks to the
broker or blocks. Everything it wants written goes into a `Changes` (committed atomically by the
worker) and every order change into a `Job` (run off-loop by the executor).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from book.applied import AppliedOrders
from book.executor import Job, JobResult
from book.guard import OrderRefusedError
from book.orders import Action, ConfirmPrice, SubmitEntry, VerifyOrder
from book.retry import RetrySchedule
from book.risk import RiskParams
from book.state import Changes, Held
from broker.errors import BrokerError, InsufficientBuyingPowerError
from position_manager import events
from position_manager.broker_types import BrokerOrder
from position_manager.logging import log_kv
from position_manager.session import Session
from rules.apply import apply_executed, exit_working, stop_lost
from rules.decisions import CancelOrder, Decision, PlaceStop, ReplaceStop, SubmitExit
from rules.earnings import earnings_reduction_decisions, needs_earnings_reduction
from rules.evaluate import evaluate_quote
from rules.model import Position, Quote, Side
from rules.order_ids import flatten_order_id, make_position_key, report_date_of
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.plausibility import confirmed_by, needs_confirmation
from rules.pnl import Pnl, unrealized_pnl
from rules.portfolio_limits import tightened_stop
from rules.protection import protect_decisions, restore_decisions
from rules.replan import atr_replan
from rules.session_policy import policy_for
from rules.stop_orders import replace_stop
from rules.stops import stop_and_target

log = logging.getLogger(__name__)


def _err(symbol: str, error_type: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "error_type": error_type, "message": message, **extra}


def _never_busy(symbol: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class HeldSnapshot:
    """One symbol's in-memory entry before a message was handled (`Engine.snapshot`)."""

    symbol: str
    live: Held | None
    copy: Held | None
    earnings_requested: date | None


class Engine:
    """`busy` says whether an order job for a symbol is in flight (the host's executor);
    `risk_loader` reads a symbol's risk parameters the first time it is seen."""

    def __init__(
        self,
        params: RuleParams,
        *,
        busy: Callable[[str], bool] = _never_busy,
        risk_loader: Callable[[str], RiskParams] | None = None,
        pnl_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.params = params
        self.busy = busy
        self.risk_loader = risk_loader
        self.pnl_interval = pnl_interval
        self.clock = clock
        self.held: dict[str, Held] = {}
        self.held_bytes: dict[bytes, Held] = {}  # the hot path looks symbols up as raw bytes
        self.risk: dict[str, RiskParams] = {}
        self.session = Session.CLOSED
        self.retry = RetrySchedule(clock=clock)
        self.halted: set[str] = set()  # no buying power for the stop: a person must act
        self._pnl_at: dict[str, float] = {}
        self.earnings_requested: dict[str, date] = {}
        # What of each order is applied already (book.applied): loaded by the host at start.
        self.applied = AppliedOrders()
        # When an order outcome or update last changed a symbol (host clock): a reconcile whose
        # broker read began earlier leaves the symbol alone, its snapshot being the older word.
        self._touched: dict[str, float] = {}

    # --- book -------------------------------------------------------------------------------
    def load(self, book: dict[str, Held]) -> None:
        """Replace the in-memory book with a persisted one (start, or a job's fresh engine)."""
        self.held.clear()
        self.held_bytes.clear()
        for symbol, held in book.items():
            self.held[symbol] = held
            self.held_bytes[symbol.encode()] = held

    def put(self, held: Held, changes: Changes) -> None:
        symbol = held.position.symbol
        self.held[symbol] = held
        self.held_bytes[symbol.encode()] = held
        changes.put(held)

    def position_of(self, symbol: str) -> Position | None:
        """The book's position for a symbol (the order guard reads it on an order thread while
        the symbol's job runs, when nothing else changes its quantity)."""
        held = self.held.get(symbol)
        return held.position if held is not None else None

    def touch(self, symbol: str) -> None:
        self._touched[symbol] = self.clock()

    def touched_since(self, symbol: str, since: float) -> bool:
        return self._touched.get(symbol, -1e18) >= since

    def drop(self, symbol: str, changes: Changes) -> None:
        self.held.pop(symbol, None)
        self.held_bytes.pop(symbol.encode(), None)
        self.retry.forget(symbol)
        self.halted.discard(symbol)
        self._pnl_at.pop(symbol, None)
        changes.delete(symbol)

    def snapshot(self, symbol: str) -> HeldSnapshot:
        """What `restore` needs to put a symbol back as it is now (the live object and a copy
        of its fields), taken before a message is handled."""
        held = self.held.get(symbol)
        # Held's fields, spelled out: `dataclasses.replace` costs 3 us, once per held quote.
        copy = Held(held.position, held.realized_pnl, held.inflight) if held is not None else None
        return HeldSnapshot(symbol, held, copy, self.earnings_requested.get(symbol))

    def restore(self, snapshot: HeldSnapshot) -> None:
        """Undo what a handler that failed half-way did to one symbol's in-memory entry. The
        same object gets its old fields back, so a `Changes` still holding it (from an earlier
        message of the batch) writes the old values too."""
        live, copy, symbol = snapshot.live, snapshot.copy, snapshot.symbol
        if snapshot.earnings_requested is None:
            self.earnings_requested.pop(symbol, None)
        else:
            self.earnings_requested[symbol] = snapshot.earnings_requested
        if live is None or copy is None:
            self.held.pop(symbol, None)
            self.held_bytes.pop(symbol.encode(), None)
            return
        live.position, live.realized_pnl, live.inflight = (
            copy.position,
            copy.realized_pnl,
            copy.inflight,
        )
        self.held[symbol] = live
        self.held_bytes[symbol.encode()] = live

    def risk_for(self, symbol: str) -> RiskParams:
        """Cached risk parameters; a symbol seen for the first time is read once (one HGETALL:
        the only Redis read the engine makes, and only on a fill or start, never per quote)."""
        found = self.risk.get(symbol)
        if found is None:
            found = self.risk_loader(symbol) if self.risk_loader else RiskParams(symbol)
            self.risk[symbol] = found
        return found

    def new_position(self, symbol: str, qty: Decimal, entry: Decimal, token: str) -> Position:
        """A position we have no state for: target from the ATR plan, stop not yet placed."""
        side = Side.LONG if qty > 0 else Side.SHORT
        risk = self.risk_for(symbol)
        plan = stop_and_target(entry, side, risk.cap_class, risk.atr, self.params)
        return Position(
            symbol=symbol,
            quantity=qty,
            entry_price=entry,
            original_quantity=abs(qty),
            position_key=make_position_key(symbol, side, token),
            cap_class=risk.cap_class,
            target_price=plan.target_price,
            session=self.session,
        )

    def protect_plan_price(self, pos: Position) -> Decimal:
        """Where the first stop goes (for the position.opened event)."""
        risk = self.risk_for(pos.symbol)
        return stop_and_target(
            pos.entry_price, pos.side, pos.cap_class, risk.atr, self.params
        ).stop_price

    # --- quotes -----------------------------------------------------------------------------
    def on_quote(self, held: Held, quote: Quote, changes: Changes) -> Job | None:
        before = held.position
        last_known = before.last_price or before.entry_price
        if needs_confirmation(last_known, quote.price, self.params.quote_confirm_move):
            # Nothing of this quote is believed (not even its best price) until the broker's
            # own latest trade agrees; while another job runs, the next quote asks again.
            if self.busy(quote.symbol):
                return None
            return Job(
                quote.symbol,
                (ConfirmPrice(quote.symbol, quote.price, quote.timestamp),),
                "confirm_quote",
            )
        return self._evaluate(held, quote, changes)

    def _evaluate(self, held: Held, quote: Quote, changes: Changes) -> Job | None:
        before = held.position
        ev = evaluate_quote(
            before, quote, self.session, self.params, self.risk_for(quote.symbol).atr
        )
        held.position = ev.position
        if ev.position.best_price != before.best_price or ev.events:
            changes.put(held)  # best price is state: written with this batch's acks
        for rule_event in ev.events:
            changes.emit(rule_event.name, rule_event.data)
        symbol = quote.symbol
        if policy_for(self.session).publish_pnl:
            now = self.clock()
            if now - self._pnl_at.get(symbol, -1e18) >= self.pnl_interval:
                self._pnl_at[symbol] = now
                # The mark is state too when it is published: `status` reads the state, and
                # must say what the history says (a quote that moves neither the best price
                # nor a rule is not written, for speed, until then).
                _publish_mark(held, ev.pnl, quote.price, changes)
        return self.job_for(symbol, ev.decisions, "quote")

    def pnl_snapshot(self, changes: Changes, why: str) -> int:
        """A `position.pnl_updated` for every held position at its last known price, whatever
        the throttle and the session (`why`: session_end, shutdown, command): the history's
        unrealized P&L is then the book's, not the last throttled quote's. Returns how many."""
        count = 0
        for symbol, held in self.held.items():
            pos = held.position
            if pos.last_price is None or pos.last_price <= 0 or pos.quantity == 0:
                continue
            pnl = unrealized_pnl(pos, pos.last_price, self.session)
            _publish_mark(held, pnl, pos.last_price, changes, snapshot=why)
            self._pnl_at[symbol] = self.clock()
            count += 1
        return count

    def job_for(
        self, symbol: str, decisions: tuple[Decision, ...] | list[Decision], cause: str
    ) -> Job | None:
        """A job for these decisions, unless the symbol is busy, waiting for a retry, or halted
        (no buying power: do not keep sending the same stop)."""
        if not decisions or self.busy(symbol) or self.retry.waiting(symbol):
            return None
        if symbol in self.halted:
            decisions = [d for d in decisions if not isinstance(d, PlaceStop)]
            if not decisions:
                return None
        held = self.held.get(symbol)
        if held is not None:
            pos = held.position
            if any(cannot_replace_yet(d, pos) for d in decisions):
                return None  # the rest (a sale after a shrink) depends on it: all wait
            decisions = [d for d in decisions if not changes_nothing(d, pos)]
            if not decisions:
                return None
        exits = tuple(d.client_order_id for d in decisions if isinstance(d, SubmitExit))
        if exits and held is not None:
            held.inflight = exits  # kept in every state write until the outcome is applied
        return Job(symbol, tuple(decisions), cause)

    def protect_job(self, symbol: str, cause: str) -> Job | None:
        held = self.held.get(symbol)
        if held is None:
            return None
        pos = held.position
        price = pos.last_price
        decisions = protect_decisions(pos, self.risk_for(symbol).atr, price, self.params)
        return self.job_for(symbol, decisions, cause)

    def reevaluate_job(self, symbol: str, cause: str) -> Job | None:
        """What the last known price asks for now (a due retry, a session change)."""
        held = self.held.get(symbol)
        if held is None:
            return None
        pos = held.position
        if not pos.is_protected or pos.last_price is None or pos.last_updated is None:
            return self.protect_job(symbol, cause)
        quote = Quote(symbol, pos.last_price, pos.last_updated)
        ev = evaluate_quote(pos, quote, self.session, self.params, self.risk_for(symbol).atr)
        return self.job_for(symbol, ev.decisions, cause)

    def replan_job(self, symbol: str, cause: str) -> Job | None:
        """A fallback stop tightened to the ATR plan, now that the risk parameters have an ATR
        (`rules.replan`: never loosened). Held back like any replace while the stop is landing
        or the symbol busy: the next quote, or the stop's `order.new`, asks again."""
        held = self.held.get(symbol)
        if held is None:
            return None
        pos = held.position
        decision = atr_replan(pos, self.risk_for(symbol).atr, pos.last_price, self.params)
        return self.job_for(symbol, [decision], cause) if decision is not None else None

    # --- pre-earnings -----------------------------------------------------------------------
    def earnings_job(
        self, symbol: str, today: date, report: date | None, changes: Changes
    ) -> Job | None:
        held = self.held.get(symbol)
        policy = policy_for(self.session)
        if held is None or report is None or policy.exit_style is None:
            return None
        if not policy.reduce_for_earnings:
            return None
        pos = held.position
        if not needs_earnings_reduction(pos, today, report, self.params):
            return None
        price = pos.last_price or pos.entry_price
        decisions = earnings_reduction_decisions(
            pos, today, report, price, policy.exit_style, self.params
        )
        if not decisions:  # one share: half rounds to nothing; the date counts as handled
            held.position = pos.evolve(earnings_reduced_for=report)
            changes.put(held)
            return None
        return self.job_for(symbol, decisions, "earnings")

    # --- portfolio limits and flatten ----------------------------------------------------------
    def flatten_job(self, symbol: str, today: date, cause: str) -> Job | None:
        """Close the whole position through the lifecycle-safe path (its stop cancelled first,
        then one exit for every share no working exit holds; `flatten_order_id` once per session
        date). None when the session allows no exit (CLOSED) or nothing is left to sell."""
        held = self.held.get(symbol)
        policy = policy_for(self.session)
        if held is None or policy.exit_style is None:
            return None
        pos = held.position
        price = pos.last_price or pos.entry_price
        decisions = exit_with_stop_fitted(
            pos,
            pos.coverable_size,
            price,
            policy.exit_style,
            "flatten",
            flatten_order_id(pos.position_key, today, pos.exit_generation),
            self.params,
        )
        return self.job_for(symbol, decisions, f"flatten: {cause}")

    def tighten_job(self, symbol: str, tighten_pct: Decimal) -> Job | None:
        """The live stop moved to `tighten_pct` from the last price, if that is tighter."""
        held = self.held.get(symbol)
        if held is None:
            return None
        pos = held.position
        if pos.last_price is None or pos.stop_order_id is None or pos.stop_quantity is None:
            return None
        target = tightened_stop(pos, pos.last_price, tighten_pct)
        if target is None:
            return None
        decision = replace_stop(
            symbol,
            pos.position_key,
            pos.stop_order_id,
            pos.stop_quantity,
            target,
            pos.stop_price,
            "tighten",
        )
        return self.job_for(symbol, [decision], "portfolio_limit")

    # --- job outcomes -----------------------------------------------------------------------
    def apply_result(self, result: JobResult, changes: Changes) -> Job | None:
        """Apply a finished job's outcomes to the book. Returns a follow-up job when protection
        must be restored now (a sale failed after its stop was shrunk for it): the host runs it
        at once, ahead of the retry that will try the sale again."""
        job = result.job
        symbol = job.symbol
        self.touch(symbol)
        if len(job.actions) == 1 and isinstance(job.actions[0], ConfirmPrice):
            return self._price_checked(result, changes)
        if result.lease_busy:
            self.retry.schedule(symbol, delay=1.0)
            for stream, msg_id in job.acks:
                changes.ack(stream, msg_id)
            log_kv(log, logging.INFO, "lease busy, retrying", symbol=symbol, cause=job.cause)
            return None
        ack = True
        sale_failed = False
        failed = False
        held = self.held.get(symbol)
        if held is not None and held.inflight:
            held.inflight = ()
            changes.put(held)
        for outcome in result.outcomes:
            action = outcome.action
            if outcome.error is not None:
                failed = True
                sale_failed = sale_failed or isinstance(action, SubmitExit)
                ack = self._failed(symbol, action, outcome.error, changes) and ack
                continue
            failed = self.apply_accepted(symbol, action, outcome.order, changes) or failed
        if not failed:
            self.retry.succeeded(symbol)
        if ack:
            for stream, msg_id in job.acks:
                changes.ack(stream, msg_id)
        return self._restore_job(symbol) if sale_failed else None

    def _price_checked(self, result: JobResult, changes: Changes) -> Job | None:
        """A quote that moved implausibly far, checked against the broker's latest trade: acted
        on at the broker's price if it agrees, otherwise reported and dropped."""
        job = result.job
        for stream, msg_id in job.acks:
            changes.ack(stream, msg_id)  # a quote is never redelivered: the next one decides
        action = job.actions[0]
        assert isinstance(action, ConfirmPrice)
        held = self.held.get(job.symbol)
        if held is None or not result.outcomes:
            return None
        outcome = result.outcomes[0]
        broker_price = outcome.price
        last_known = held.position.last_price or held.position.entry_price
        if outcome.error is None and confirmed_by(
            action.price, broker_price, self.params.quote_confirm_tolerance
        ):
            assert broker_price is not None
            return self._evaluate(held, Quote(job.symbol, broker_price, action.timestamp), changes)
        why = f"broker's latest trade {broker_price}" if outcome.error is None else "no answer"
        changes.emit(
            events.POSITION_ERROR,
            _err(
                job.symbol,
                "implausible_quote",
                f"quote {action.price} moved more than {self.params.quote_confirm_move:%} from "
                f"{last_known}; not confirmed ({why}): ignored",
                quote_price=action.price,
                broker_price=broker_price,
                last_price=last_known,
            ),
        )
        log_kv(
            log,
            logging.WARNING,
            "implausible quote ignored",
            symbol=job.symbol,
            quote=action.price,
            broker=broker_price,
            last=last_known,
            error=type(outcome.error).__name__ if outcome.error else None,
        )
        return None

    def _restore_job(self, symbol: str) -> Job | None:
        """The stop grown back over the shares a failed sale did not sell. Not held back by the
        retry timer (that one is for the sale): protection first."""
        held = self.held.get(symbol)
        if held is None or self.busy(symbol):
            return None
        decisions = restore_decisions(held.position)
        return Job(symbol, tuple(decisions), "restore") if decisions else None

    def apply_accepted(
        self, symbol: str, action: Action, order: BrokerOrder | None, changes: Changes
    ) -> bool:
        """Apply an action the broker accepted, with the event it gives the history: from a
        job's answer, or after a crash from the broker's copy of an exit that was sent but never
        recorded (`book.recovery`). Returns True when it still needs a retry (a stop whose
        client id named an order that is gone), so the caller keeps the retry scheduled."""
        order_id = order.id if order is not None else None
        if isinstance(action, SubmitEntry):
            log_kv(log, logging.INFO, "entry order accepted", symbol=symbol, order_id=order_id)
            return False
        if isinstance(action, ConfirmPrice | VerifyOrder):
            return False  # only ever alone in its job: see _price_checked, book.outcomes
        held = self.held.get(symbol)
        if held is None:
            return False  # closed meanwhile (e.g. the cancel of a closed position's stop)
        before = held.position
        if isinstance(action, PlaceStop) and order is not None and not order.is_open:
            # The stop's client id was used by an order that is gone: take the next generation.
            held.position = stop_lost(before)
            changes.put(held)
            self.retry.schedule(symbol, delay=0.0)
            return True
        pos = apply_executed(before, action, order_id)
        if isinstance(action, PlaceStop | ReplaceStop):
            landing = order is not None and order.status in NOT_LANDED
            pos = pos.evolve(stop_landing=order_id if landing else None)
        if (
            isinstance(action, SubmitExit)
            and action.reason == "stop_breach"
            and action.extended_hours
            and action.limit_price is not None
            and order is not None
        ):  # re-priced while unfilled (rules.extended_hours)
            pos = pos.evolve(breach_exit=(order.id, action.limit_price))
        if isinstance(action, SubmitExit) and order is not None:
            # Its shares are held until its trade updates say it filled or died, even when the
            # answer already says `filled`: the book's quantity moves with the fill event (after
            # this result: the symbol's events wait while its job is in flight), and until then
            # a stop resized from the book must not count the sold shares again.
            pos = exit_working(pos, action.client_order_id, action.qty, Decimal(0))
        held.position = pos
        changes.put(held)
        if isinstance(action, ReplaceStop) and action.reason == "trail":
            changes.emit(
                events.POSITION_TRAILING_STOP_UPDATED,
                {
                    "symbol": symbol,
                    "old_stop": action.previous_stop_price,
                    "new_stop": action.stop_price,
                    "stop_order_id": order_id,
                    "qty": action.qty,
                },
            )
        elif isinstance(action, PlaceStop | ReplaceStop):  # new, resized or re-planned
            data: dict[str, Any] = {
                "symbol": symbol,
                "stop_price": action.stop_price,
                "stop_order_id": order_id,
                "qty": action.qty,
                "client_order_id": action.client_order_id,
                "target_price": pos.target_price,
                "reason": action.reason,
                "basis": pos.stop_basis,
            }
            if isinstance(action, ReplaceStop) and action.reason == "replan":
                data["previous_stop_price"] = action.previous_stop_price
                log_kv(
                    log,
                    logging.INFO,
                    "fallback stop tightened to the ATR plan",
                    symbol=symbol,
                    old_stop=action.previous_stop_price,
                    new_stop=action.stop_price,
                    order_id=order_id,
                )
            changes.emit(events.POSITION_STOP_SET, data)
            if isinstance(action, PlaceStop) and action.basis == "fallback":
                self._fallback_alert(symbol, action, order_id, pos, changes)
        elif isinstance(action, SubmitExit):
            self._exit_submitted(symbol, action, order_id, before, changes)
        return False

    def _fallback_alert(
        self,
        symbol: str,
        action: PlaceStop,
        order_id: str | None,
        pos: Position,
        changes: Changes,
    ) -> None:
        """A stop at the fixed fallback distance is said out loud: an alert (and a warning in
        the log) naming the distance and why there was no ATR."""
        why = self.risk_for(symbol).missing_atr_reason()
        distance = abs(pos.entry_price - action.stop_price) / pos.entry_price
        message = (
            f"{symbol}: stop {action.stop_price} placed {distance:.1%} from entry "
            f"{pos.entry_price} by the fixed {pos.cap_class.value}-cap fallback, no usable ATR: "
            f"{why}; it is tightened to the ATR plan (never loosened) when one arrives"
        )
        changes.emit(
            events.ALERT_FALLBACK_STOP,
            {
                "symbol": symbol,
                "message": message,
                "stop_price": action.stop_price,
                "stop_order_id": order_id,
                "entry_price": pos.entry_price,
                "stop_distance": distance.quantize(Decimal("0.0001")),
                "cap_class": pos.cap_class.value,
                "reason": why,
            },
        )
        log_kv(
            log,
            logging.WARNING,
            "fallback stop placed: no usable ATR",
            symbol=symbol,
            stop=action.stop_price,
            order_id=order_id,
            why=why,
        )

    def _exit_submitted(
        self,
        symbol: str,
        action: SubmitExit,
        order_id: str | None,
        before: Position,
        changes: Changes,
    ) -> None:
        price = before.last_price
        if action.reason == "pre_earnings":
            changes.emit(
                events.POSITION_EARNINGS_REDUCTION,
                {
                    "symbol": symbol,
                    "shares_sold": action.qty,
                    "report_date": held_report(action.client_order_id),
                    "order_id": order_id,
                    "current_price": price,
                },
            )
            self.earnings_requested.pop(symbol, None)
        elif action.reason == "stop_breach":
            held = self.held.get(symbol)
            if held is None or held.position.stop_hit_for == action.client_order_id:
                return  # the same emergency exit, re-sent on a later quote: said once already
            held.position = held.position.evolve(stop_hit_for=action.client_order_id)
            changes.put(held)
            changes.emit(
                events.POSITION_STOP_HIT,
                {
                    "symbol": symbol,
                    "current_price": price,
                    "trigger": "stop_breach",
                    "shares_sold": action.qty,
                    "order_id": order_id,
                },
            )
        elif action.reason == "flatten":
            changes.emit(
                events.POSITION_FLATTEN,
                {
                    "symbol": symbol,
                    "shares_sold": action.qty,
                    "order_id": order_id,
                    "order_type": action.order_type,
                    "current_price": price,
                },
            )
        else:
            changes.emit(
                events.POSITION_PROFIT_TAKING,
                {
                    "symbol": symbol,
                    "trigger": action.reason,
                    "shares_sold": action.qty,
                    "order_id": order_id,
                    "order_type": action.order_type,
                    "current_price": price,
                },
            )

    def _failed(self, symbol: str, action: Action, error: Exception, changes: Changes) -> bool:
        """Publish the error and decide what next. Returns False to leave the causing message
        unacked (a transient failure of an entry: the message is redelivered later)."""
        kind = type(error).__name__
        changes.emit(
            events.POSITION_ERROR,
            _err(
                symbol,
                kind,
                str(error),
                action=type(action).__name__,
                client_order_id=getattr(action, "client_order_id", None),
            ),
        )
        if isinstance(error, OrderRefusedError):
            log_kv(log, logging.ERROR, "order refused before the broker", symbol=symbol, why=error)
            return True  # no retry: the same order would be refused again
        if isinstance(error, InsufficientBuyingPowerError):
            if isinstance(action, PlaceStop):
                self.halted.add(symbol)
            return True  # no retry: a person must act
        if isinstance(action, SubmitEntry):
            return not (isinstance(error, BrokerError) and error.retryable)
        if isinstance(action, CancelOrder) and symbol not in self.held:
            return True
        self.retry.schedule(symbol)
        return True


def _publish_mark(held: Held, pnl: Pnl, price: Decimal, changes: Changes, **extra: str) -> None:
    """A `position.pnl_updated` at `price`, with the state written too: `status` reads the
    state's last price and must say what the history says."""
    changes.put(held)
    changes.emit(
        events.POSITION_PNL_UPDATED,
        {
            "symbol": held.position.symbol,
            "unrealized_pnl": pnl.unrealized,
            "unrealized_pnl_pct": pnl.unrealized_pct,
            "current_price": price,
            "extended_hours": pnl.extended_hours,
            **extra,
        },
    )


# Statuses of an order the broker has not confirmed yet: it cannot be replaced in them.
NOT_LANDED = frozenset({"pending_new", "accepted"})


def cannot_replace_yet(decision: Decision, position: Position) -> bool:
    """A replace of a stop the broker has not confirmed yet (Alpaca: 422 while `accepted` or
    `pending_*`): the next quote after it lands decides again."""
    return isinstance(decision, ReplaceStop) and decision.order_id == position.stop_landing


def changes_nothing(decision: Decision, position: Position) -> bool:
    """A replace of the live stop to the quantity and (tick-rounded) price it already has: Alpaca
    answers 422 "order parameters are not changed", and it would spend a request for nothing."""
    return (
        isinstance(decision, ReplaceStop)
        and decision.order_id == position.stop_order_id
        and decision.qty == position.stop_quantity
        and decision.stop_price == position.stop_price
    )


def held_report(client_order_id: str) -> str | None:
    report = report_date_of(client_order_id)
    return report.isoformat() if report else None
