"""Positions found at the broker are adopted once: a `position.opened` for history, not twice;
and the broker's open orders say which of our exits are still working."""

from __future__ import annotations

from decimal import Decimal

from book.engine import Engine
from book.reconcile import adopt_position
from book.state import Changes, Held
from position_manager import events
from position_manager.broker_types import (
    BrokerOrder,
    BrokerPosition,
    OrderKind,
    OrderSide,
    TimeInForce,
)
from rules.params import DEFAULT_PARAMS
from tests.rules.helpers import make_position
from tests.support.worker_harness import Harness


def _opened(harness: Harness) -> list[dict[str, object]]:
    return harness.events(events.POSITION_OPENED)


def test_startup_adopts_unknown_positions_with_an_opened_event_once(harness: Harness) -> None:
    harness.sim.simulator.seed_positions(
        [("AAPL", Decimal(100), Decimal(100)), ("TSLA", Decimal(-50), Decimal(200))],
        marks={"AAPL": Decimal(100), "TSLA": Decimal(200)},
    )
    harness.start()
    opened = {d["symbol"]: d for d in _opened(harness)}
    assert opened["AAPL"]["quantity"] == "100" and opened["AAPL"]["side"] == "long"
    assert opened["TSLA"]["quantity"] == "-50" and opened["TSLA"]["side"] == "short"
    assert opened["TSLA"]["adopted"] is True and opened["TSLA"]["position_key"]
    assert harness.worker is not None
    harness.worker.close()
    harness.start()  # a restart knows them from Redis: nothing is opened again
    assert len(_opened(harness)) == 2


def test_adoption_keeps_only_the_exits_the_broker_still_has_open() -> None:
    """A working exit whose end we never heard of (the worker was down when it filled or died)
    would keep its shares away from the stop for good. Adoption takes the broker's word: an exit
    still open keeps its unfilled shares, with what it filled so far; one gone holds nothing, and
    the stop is sized to the rest."""
    engine = Engine(DEFAULT_PARAMS)
    pos = make_position(
        qty=100,
        stop_order_id="s-1",
        stop_price=Decimal("92.00"),
        stop_quantity=Decimal(40),
        working_exits=(("tp1-c", Decimal(30), Decimal(0)), ("tp2-c", Decimal(30), Decimal(0))),
    )
    engine.load({"AAPL": Held(pos)})

    def order(oid: str, cid: str, kind: OrderKind, qty: int, filled: int) -> BrokerOrder:
        return BrokerOrder(
            oid,
            cid,
            "AAPL",
            OrderSide.SELL,
            kind,
            Decimal(qty),
            Decimal(filled),
            "new",
            TimeInForce.GTC if kind.is_stop else TimeInForce.DAY,
            stop_price=Decimal("92.00"),
        )

    orders = [
        order("s-1", "stop-c", OrderKind.STOP, 40, 0),
        order("x-2", "tp2-c", OrderKind.LIMIT, 30, 10),
    ]
    # tp1 filled while we were away (100 -> 70), tp2 sold 10 of its 30 (70 -> 60).
    broker = BrokerPosition("AAPL", Decimal(60), Decimal(100), Decimal(121), None, None)
    held, result = adopt_position(engine, broker, orders, Changes())
    assert held.position.working_exits == (("tp2-c", Decimal(30), Decimal(10)),)
    assert held.position.coverable_size == 40  # 60 held, 20 still offered by tp2
    assert result.decisions == ()  # the 40-share stop fits
