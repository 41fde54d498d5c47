"""No lost event, whatever dies: what happens at the broker while the worker (or Redis) is not
listening reaches the book and its events, exactly once, with the broker's own prices.

The findings of the outside harness, one test each: a stop that fills while the worker is down
is closed at its fill price (the startup scan used to find it "not held at the broker" before
it read the fill waiting in the stream); a stop replace the broker accepted just before a crash
gets its position event; a lost order update is caught up by the worker's own timer; the live
copy of a change already caught up is not applied twice.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from book.catchup import catch_up, read_broker, references
from book.state import Changes
from position_manager import events
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from simulator.state import SimFill
from tests.support.redis_reads import read_events
from tests.support.simulator import REGULAR_AT
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, Killed, die_before_writing, risk_params

ENTRY = Decimal("60")


def _ko_with_stop(harness: Harness, **start: Any) -> None:
    """100 KO bought at 60; ATR 1 on a large cap: the stop clamps to 8 % below, 55.20."""
    harness.sim.simulator.seed_positions([("KO", Decimal(100), ENTRY)], {"KO": ENTRY})
    risk_params(harness.client, "KO", atr="1")
    harness.start(**start)
    harness.settle()
    assert [s.stop_price for s in harness.stops("KO")] == [Decimal("55.20")]


def _stop_out_at_the_broker(harness: Harness, price: str) -> SimFill:
    """Prints through the stop that only the broker sees: the stop elects on the first and
    fills from the next quote."""
    p = Decimal(price)
    for _ in range(2):
        harness.sim.simulator.feed_quote("KO", p - Decimal("0.01"), p + Decimal("0.01"), p)
    assert harness.position_qty("KO") == 0
    return harness.sim.simulator.engine.book.fills[-1]


def _orders_without_a_position_event(harness: Harness) -> list[str]:
    """Our orders at the broker that no position event names."""
    named = set()
    for data in harness.events():
        named |= {str(data.get(k)) for k in ("stop_order_id", "order_id") if data.get(k)}
    return [
        o.id
        for o in harness.sim.simulator.engine.book.orders.values()
        if o.client_order_id.startswith("pm-") and o.id not in named
    ]


def test_a_stop_filled_while_the_worker_was_down_is_closed_at_its_fill_price(
    harness: Harness,
) -> None:
    _ko_with_stop(harness)
    harness.kill()
    fill = _stop_out_at_the_broker(harness, "54")  # the fill's update waits in the stream
    harness.start()
    harness.settle()

    (closed,) = harness.events(events.POSITION_CLOSED)
    assert closed["reason"] == "stop"
    assert Decimal(closed["exit_price"]) == fill.price == Decimal("53.99")
    assert Decimal(closed["pnl"]) == (fill.price - ENTRY) * 100 == Decimal("-601.00")
    assert [e["order_id"] for e in harness.events(events.POSITION_STOP_HIT)] == [fill.order_id]
    assert harness.state("KO") == {}
    assert _orders_without_a_position_event(harness) == []
    # the stream's own update was applied; the catch-up added no second copy of it
    filled = [e for e in read_events(harness.client, events.ORDERS_STREAM)
              if e.event == events.ORDER_FILLED]  # fmt: skip
    assert [e.data["order_id"] for e in filled] == [fill.order_id]


def test_a_stop_replace_the_broker_accepted_before_a_crash_gets_its_position_event(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ko_with_stop(harness)
    # the broker took the replace; the worker died before writing it
    die_before_writing(harness, monkeypatch, events.POSITION_TRAILING_STOP_UPDATED)
    with pytest.raises(Killed):
        harness.quote("KO", "70")  # in profit: the stop trails to 5 % under 70
    harness.kill()
    harness.sim.simulator.engine.process_pending()  # the replacement lands at the broker
    (live,) = harness.stops("KO")
    assert live.stop_price == Decimal("66.50")

    harness.start()
    harness.settle()
    assert harness.state("KO")["stop_order_id"] == live.id
    adopted = [e for e in harness.events(events.POSITION_STOP_SET) if e["stop_order_id"] == live.id]
    assert [(e["reason"], Decimal(e["stop_price"])) for e in adopted] == [
        ("adopted", live.stop_price)
    ]
    assert _orders_without_a_position_event(harness) == []
    assert [s.id for s in harness.stops("KO")] == [live.id]  # nothing placed twice


def test_a_profit_sale_the_broker_accepted_before_a_crash_gets_its_position_event(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chaos (CI profile, seed 12): NVDA's level-1 sale was sent, the worker killed before the
    answer was written, and the restart recovered it from `inflight` and caught up its fill,
    but no `position.profit_taking` ever named the order."""
    _ko_with_stop(harness)
    # the broker took the sale; the worker died before writing it
    die_before_writing(harness, monkeypatch, events.POSITION_PROFIT_TAKING)
    with pytest.raises(Killed):
        harness.quote("KO", "72")  # +20 %: half is sold
    harness.kill()
    harness.sim.simulator.engine.process_pending()
    harness.sim.simulator.feed_quote("KO", Decimal("71.99"), Decimal("72.01"), Decimal(72))
    assert harness.position_qty("KO") == 50
    (sale,) = [
        o
        for o in harness.sim.simulator.engine.book.orders.values()
        if o.side == "sell" and o.type == "market"
    ]

    harness.start()
    harness.settle()
    taken = harness.events(events.POSITION_PROFIT_TAKING)
    assert [(e["order_id"], e["trigger"], Decimal(e["shares_sold"])) for e in taken] == [
        (sale.id, "profit_target_1", Decimal(50))
    ]
    assert _orders_without_a_position_event(harness) == []
    assert harness.state("KO")["quantity"] == "50"
    assert [s.qty for s in harness.stops("KO")] == [50]
    harness.quote("KO", "72.5")  # the level is taken: nothing is sold twice
    assert (
        len(
            [
                o
                for o in harness.sim.simulator.engine.book.orders.values()
                if o.side == "sell" and o.type == "market"
            ]
        )
        == 1
    )


def test_a_lost_order_update_is_caught_up_by_the_workers_own_timer(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(update={"worker_reconcile_seconds": 1})
    _ko_with_stop(harness)
    fill = _stop_out_at_the_broker(harness, "54")
    # The update never reaches the worker (as when Redis was down while the broker sent it).
    for entry_id, fields in harness.client.xrange(events.ORDERS_STREAM) or []:
        assert entry_id is not None and fields is not None
        if events.decode_event(fields).data.get("order_id") == fill.order_id:
            harness.client.xdel(events.ORDERS_STREAM, entry_id)
    worker = harness.worker
    assert worker is not None

    def closed() -> list[dict[str, Any]]:
        worker.process_batch(block_ms=0)
        worker.wait_idle(5)
        return harness.events(events.POSITION_CLOSED)

    wait_until(closed, 10, "the worker never caught up with the fill by itself")
    (event,) = harness.events(events.POSITION_CLOSED)
    assert Decimal(event["exit_price"]) == fill.price
    assert Decimal(event["pnl"]) == (fill.price - ENTRY) * 100
    caught = [
        e
        for e in read_events(harness.client, events.ORDERS_STREAM)
        if e.data.get("order_id") == fill.order_id and e.event == events.ORDER_FILLED
    ]
    assert [e.data.get("caught_up") for e in caught] == [True]  # the history gets the fill too
    assert harness.state("KO") == {}


def test_the_live_update_of_a_fill_already_caught_up_is_not_applied_twice(
    harness: Harness,
) -> None:
    _ko_with_stop(harness)
    worker = harness.worker
    assert worker is not None
    fill = _stop_out_at_the_broker(harness, "54")  # its update is in the stream, unread
    view = read_broker(harness.broker, worker.store.catch_up_cursor(), references(worker.engine))
    changes = Changes()
    assert catch_up(worker.engine, view, changes) == 1  # the fill, from the activities
    worker.store.commit(changes)
    harness.settle()  # now the stream's copy arrives

    (closed,) = harness.events(events.POSITION_CLOSED)
    assert Decimal(closed["exit_price"]) == fill.price
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1
    assert harness.state("KO") == {}
    assert harness.open_orders("KO") == []


def test_what_filled_before_the_first_catch_up_is_never_replayed(harness: Harness) -> None:
    """The ledger of applied updates starts at the first catch-up: a fill from before it (the
    book took its quantity from the broker) is not replayed by a later read reaching back."""
    sim = harness.sim.simulator
    sim.set_clock(REGULAR_AT - timedelta(minutes=2))  # inside a later read's overlap
    sim.seed_positions([("KO", Decimal(100), ENTRY)], {"KO": ENTRY})
    harness.broker.submit_order(
        OrderRequest(
            "KO", OrderSide.SELL, Decimal(10), OrderKind.MARKET, "by-hand", TimeInForce.DAY
        )
    )
    sim.feed_quote("KO", Decimal("59.99"), Decimal("60.01"), Decimal(60))
    assert harness.position_qty("KO") == 90
    harness.client.delete(events.ORDERS_STREAM)  # from before the worker was ever installed
    sim.set_clock(REGULAR_AT)
    risk_params(harness.client, "KO", atr="1")
    harness.start()
    harness.settle()
    harness.kill()
    harness.start()  # reads the broker from 5 minutes before its cursor: the sale is in it
    harness.settle()
    caught = [
        e for e in read_events(harness.client, events.ORDERS_STREAM) if e.data.get("caught_up")
    ]
    assert caught == []
    assert harness.state("KO")["quantity"] == "90"
    assert [s.qty for s in harness.stops("KO")] == [90]
    assert harness.events(events.POSITION_CLOSED) == []
