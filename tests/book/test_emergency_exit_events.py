"""An emergency exit that is re-sent on every quote until it fills says `stop_hit` once
(order lifecycle issue, finding 6). The engine is driven with real job results, as the executor
hands them over: the same client order id accepted again by the broker (an idempotent re-send)."""

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
