"""The engine on its own, driven with real decisions and job results as the executor hands them
over: an emergency exit re-sent on every quote until it fills says `stop_hit` once (order
lifecycle issue, finding 6), and a replace that changes nothing is never sent."""

from __future__ import annotations

from decimal import Decimal

from book.engine import Engine
from book.executor import Job, JobResult, Outcome
from book.fills import on_order_event
from book.messages import OrderUpdate
from book.risk import RiskParams
from book.state import Changes, Held
from position_manager import events
from position_manager.broker_types import BrokerOrder, OrderKind, OrderSide, TimeInForce
from position_manager.session import Session
from rules.decisions import ReplaceStop, SubmitExit
from rules.order_ids import profit_order_id
from rules.params import DEFAULT_PARAMS
from rules.protection import protect_decisions, restore_decisions
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


def _order(
    order_id: str, client_order_id: str, kind: OrderKind, qty: int, status: str
) -> BrokerOrder:
    return BrokerOrder(
        id=order_id,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=OrderSide.SELL,
        kind=kind,
        qty=Decimal(qty),
        filled_qty=Decimal(qty) if status == "filled" else Decimal(0),
        status=status,
        time_in_force=TimeInForce.GTC if kind.is_stop else TimeInForce.DAY,
    )


def _update(order_id: str, client_order_id: str, filled: int, position_qty: int) -> OrderUpdate:
    return OrderUpdate(
        symbol="AAPL",
        order_id=order_id,
        client_order_id=client_order_id,
        side=OrderSide.SELL,
        order_type="market",
        filled_qty=Decimal(filled),
        price=Decimal(121) if filled else None,
        position_qty=Decimal(position_qty),
        reason=None,
    )


def test_a_sale_filled_in_the_answer_holds_its_shares_until_its_fill_event() -> None:
    """Found by the demo on the asynchronous simulator: the stop shrunk to 20 for a 20-share sale
    landed (`order.new`) after the sale's answer said `filled` but before its `order.filled`.
    Counting the book's 40 shares then, the engine grew the stop back to 40 (refused: 403,
    available 20). The sale's shares stay held until its own fill event moves the quantity."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(
        qty=40, stop_order_id="s-1", stop_price=Decimal("110.00"), stop_quantity=Decimal(40)
    )
    engine.load({"AAPL": Held(pos)})
    shrink = replace_stop(
        "AAPL", pos.position_key, "s-1", Decimal(20), Decimal("110.00"), None, "shrink"
    )
    tp1 = profit_order_id(pos.position_key, 1)
    sale = SubmitExit(
        "AAPL",
        OrderSide.SELL,
        Decimal(20),
        "market",
        None,
        False,
        TimeInForce.DAY,
        tp1,
        "profit_target_1",
    )
    outcomes = [
        Outcome(
            shrink, order=_order("s-2", shrink.client_order_id, OrderKind.STOP, 20, "pending_new")
        ),
        Outcome(sale, order=_order("x-1", tp1, OrderKind.MARKET, 20, "filled")),
    ]
    engine.apply_result(JobResult(Job("AAPL", (shrink, sale), "quote"), outcomes), Changes())
    landed = on_order_event(
        engine, events.ORDER_NEW, _update("s-2", shrink.client_order_id, 0, 40), Changes()
    )
    assert landed is None  # 40 shares in the book, 20 of them sold: the 20-share stop fits
    fill = _update("x-1", tp1, 20, 20)
    assert on_order_event(engine, events.ORDER_FILLED, fill, Changes()) is None
    after = engine.held["AAPL"].position
    assert (after.quantity, after.stop_quantity, after.working_exits) == (20, 20, ())


def test_a_resize_held_back_while_the_stop_was_landing_is_sent_when_it_lands() -> None:
    """Found by the realistic stateful machine with partial fills: a sale failed after its stop
    was shrunk, and the restore was held back (the shrunk stop was still `pending_new`, which
    Alpaca will not replace). Nothing asked again, so 50 of 70 shares stayed covered. The
    stop's `order.new` now fits it to the position."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(
        qty=70,
        stop_order_id="s-2",
        stop_price=Decimal("92.00"),
        stop_quantity=Decimal(50),
        stop_landing="s-2",
    )
    engine.load({"AAPL": Held(pos)})
    assert engine.job_for("AAPL", restore_decisions(pos), "restore") is None  # held back
    job = on_order_event(engine, events.ORDER_NEW, _update("s-2", "stop-c", 0, 70), Changes())
    assert job is not None
    (grow,) = job.actions
    assert isinstance(grow, ReplaceStop)
    assert (grow.order_id, grow.qty, grow.stop_price) == ("s-2", 70, Decimal("92.00"))


def test_a_replan_held_back_while_the_fallback_stop_was_landing_is_sent_when_it_lands() -> None:
    """A fallback stop sent outside the session sits `accepted` (Alpaca will not replace it):
    the ATR re-plan waits, and the stop's `order.new` sends it (never a replace that 422s)."""
    engine = Engine(DEFAULT_PARAMS, risk_loader=lambda s: RiskParams(s, atr=Decimal(2), found=True))
    pos = make_position(
        stop_order_id="s-2",
        stop_price=Decimal("88.00"),
        stop_quantity=Decimal(100),
        stop_landing="s-2",
        stop_basis="fallback",
        last_price=Decimal(100),
    )
    engine.load({"AAPL": Held(pos)})
    assert engine.replan_job("AAPL", "risk") is None  # landing: held back
    job = on_order_event(engine, events.ORDER_NEW, _update("s-2", "stop-c", 0, 100), Changes())
    assert job is not None
    (replan,) = job.actions
    assert isinstance(replan, ReplaceStop) and replan.reason == "replan"
    assert (replan.order_id, replan.qty, replan.stop_price) == ("s-2", 100, Decimal("92.00"))


def test_a_fallback_stop_is_said_out_loud_and_its_replan_is_an_atr_stop() -> None:
    """The engine applying the broker's answers: the fallback placement carries its basis in
    `position.stop_set` and raises `alert.fallback_stop`; the re-plan's replace makes it atr."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(last_price=Decimal(100))
    engine.load({"AAPL": Held(pos)})
    (place,) = protect_decisions(pos, None, Decimal(100), DEFAULT_PARAMS)
    changes = Changes()
    stop = _order("s-1", place.client_order_id, OrderKind.STOP, 100, "new")  # type: ignore[union-attr]
    engine.apply_result(
        JobResult(Job("AAPL", (place,), "scan"), [Outcome(place, order=stop)]), changes
    )
    names = [name for name, _ in changes.events]
    assert names == [events.POSITION_STOP_SET, events.ALERT_FALLBACK_STOP]
    assert changes.events[0][1]["basis"] == "fallback"
    assert engine.held["AAPL"].position.stop_basis == "fallback"
    engine.risk["AAPL"] = RiskParams("AAPL", atr=Decimal(2), found=True)
    job = engine.replan_job("AAPL", "risk")
    assert job is not None
    (replan,) = job.actions
    assert isinstance(replan, ReplaceStop)
    moved = _order("s-3", replan.client_order_id, OrderKind.STOP, 100, "new")
    changes = Changes()
    engine.apply_result(JobResult(job, [Outcome(replan, order=moved)]), changes)
    ((name, data),) = changes.events
    assert (name, data["reason"], data["basis"]) == (events.POSITION_STOP_SET, "replan", "atr")
    assert engine.held["AAPL"].position.stop_basis == "atr"
    assert engine.replan_job("AAPL", "risk") is None  # an ATR stop is not re-planned again
