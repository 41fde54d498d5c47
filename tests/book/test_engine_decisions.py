"""The engine on its own, driven with real decisions and job results as the executor hands them
over: an emergency exit re-sent on every quote until it fills says `stop_hit` once (order
lifecycle issue, finding 6), and a replace that changes nothing is never sent."""

from __future__ import annotations

from decimal import Decimal

from book.engine import Engine
from book.executor import Job, JobResult, Outcome
from book.state import Changes, Held
from position_manager import events
from position_manager.broker_types import BrokerOrder, OrderKind, OrderSide, TimeInForce
from position_manager.session import Session
from rules.params import DEFAULT_PARAMS
from rules.protection import protect_decisions
from rules.stop_orders import replace_stop
from tests.rules.helpers import make_position


def _accepted(client_order_id: str) -> BrokerOrder:
    return BrokerOrder(
        id="o-1",
        client_order_id=client_order_id,
        symbol="AAPL",
        side=OrderSide.SELL,
        kind=OrderKind.MARKET,
        qty=Decimal(100),
        filled_qty=Decimal(0),
        status="accepted",
        time_in_force=TimeInForce.DAY,
    )


def test_an_emergency_exit_resent_until_it_fills_is_one_stop_hit() -> None:
    engine = Engine(DEFAULT_PARAMS)
    engine.session = Session.REGULAR
    # Unprotected (no live stop) and already through where the stop would go: exit at once.
    pos = make_position(session=Session.REGULAR, last_price=Decimal(80))
    engine.load({"AAPL": Held(pos)})
    hits = 0
    for _ in range(3):  # three quotes, three decisions, one order at the broker
        (exit_decision,) = protect_decisions(pos, None, Decimal(80), DEFAULT_PARAMS)
        job = Job("AAPL", (exit_decision,), "quote")
        changes = Changes()
        order = _accepted(exit_decision.client_order_id)  # type: ignore[union-attr]
        engine.apply_result(JobResult(job, [Outcome(exit_decision, order=order)]), changes)
        hits += sum(1 for name, _ in changes.events if name == events.POSITION_STOP_HIT)
    assert hits == 1


def test_a_replace_that_changes_nothing_after_rounding_is_never_sent() -> None:
    """Alpaca answers 422 "order parameters are not changed" (alpaca-notes, replace): a replace
    to the live stop's own quantity and tick-rounded price is dropped before it becomes a job."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(
        stop_order_id="s-1", stop_price=Decimal("92.00"), stop_quantity=Decimal(100)
    )
    engine.load({"AAPL": Held(pos)})
    same = replace_stop(
        "AAPL", pos.position_key, "s-1", Decimal(100), Decimal("92.00"), None, "trail"
    )
    assert engine.job_for("AAPL", [same], "quote") is None
    moved = replace_stop(
        "AAPL", pos.position_key, "s-1", Decimal(100), Decimal("92.01"), None, "trail"
    )
    job = engine.job_for("AAPL", [moved], "quote")
    assert job is not None and job.actions == (moved,)


def test_a_stop_the_broker_has_not_confirmed_yet_is_not_replaced() -> None:
    """Alpaca refuses to replace an order that is `accepted` or `pending_new` (alpaca-notes,
    replace): the trail waits for the next quote after the stop lands."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(
        stop_order_id="s-2",
        stop_price=Decimal("92.00"),
        stop_quantity=Decimal(100),
        stop_landing="s-2",
    )
    engine.load({"AAPL": Held(pos)})
    trail = replace_stop(
        "AAPL", pos.position_key, "s-2", Decimal(100), Decimal("95.00"), None, "trail"
    )
    assert engine.job_for("AAPL", [trail], "quote") is None
    engine.held["AAPL"].position = pos.evolve(stop_landing=None)
    assert engine.job_for("AAPL", [trail], "quote") is not None
