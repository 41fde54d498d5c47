"""The issue's scenarios, end to end: quotes through Redis, orders at the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from position_manager import events
from simulator.state import SimOrder
from tests.support.worker_harness import Harness, Killed, die_before_writing, risk_params


def test_atr_stop_is_placed_when_the_entry_fills(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="4", cap_class="large")  # 1.5 x 4 / 100 = 6% -> 8%
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    assert harness.position_qty("AAPL") == 100
    stops = harness.stops("AAPL")
    assert len(stops) == 1
    assert stops[0].stop_price == Decimal("92.00")
    assert stops[0].qty == 100 and stops[0].side == "sell"
    opened = harness.events(events.POSITION_OPENED)
    assert opened[0]["symbol"] == "AAPL" and opened[0]["stop_price"] == "92.00"
    stop_set = harness.events(events.POSITION_STOP_SET)
    assert stop_set[0]["stop_order_id"] == stops[0].id
    assert harness.state("AAPL")["stop_order_id"] == stops[0].id


def _long_aapl(harness: Harness, **risk: object) -> None:
    risk_params(harness.client, "AAPL", **{"atr": "4", "cap_class": "large", **risk})
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")


def test_trailing_moves_the_stop_up_in_steps_and_never_down(harness: Harness) -> None:
    _long_aapl(harness)
    first = harness.stops("AAPL")[0]
    harness.quote("AAPL", "110")  # trail 5% below 110 -> 104.50
    after_up = harness.stops("AAPL")
    assert [s.stop_price for s in after_up] == [Decimal("104.50")]
    assert after_up[0].id != first.id  # replaced (PATCH gives a new order) ...
    replaced = harness.broker.get_order(first.id)
    assert replaced.status == "replaced"  # ... never cancelled then placed
    harness.quote("AAPL", "105")  # falls back: the stop stays
    harness.quote("AAPL", "110.05")  # tightens by under MIN_STOP_ADJUSTMENT: no change
    assert [s.stop_price for s in harness.stops("AAPL")] == [Decimal("104.50")]
    harness.quote("AAPL", "112")  # 106.40
    assert [s.stop_price for s in harness.stops("AAPL")] == [Decimal("106.40")]
    trail = harness.events(events.POSITION_TRAILING_STOP_UPDATED)
    assert [(t["old_stop"], t["new_stop"]) for t in trail] == [
        ("92.00", "104.50"),
        ("104.50", "106.40"),
    ]
    assert harness.state("AAPL")["best_price"] == "112"


def test_twenty_percent_sells_half_and_shrinks_the_stop_to_the_rest(harness: Harness) -> None:
    _long_aapl(harness, atr="1")  # stop 8% -> 92; trail would be 114 at 120
    harness.quote("AAPL", "120")
    assert harness.position_qty("AAPL") == 50
    stops = harness.stops("AAPL")
    assert len(stops) == 1 and stops[0].qty == 50
    taking = harness.events(events.POSITION_PROFIT_TAKING)
    assert [(t["trigger"], t["shares_sold"]) for t in taking] == [("profit_target_1", "50")]
    state = harness.state("AAPL")
    assert state["profit_levels_taken"] == "1" and state["original_quantity"] == "100"
    harness.quote("AAPL", "121")  # no second sale at the same level
    assert harness.position_qty("AAPL") == 50


def test_fifty_percent_closes_and_leaves_no_order_behind(harness: Harness) -> None:
    _long_aapl(harness)
    harness.quote("AAPL", "150")
    assert harness.position_qty("AAPL") == 0
    assert harness.open_orders("AAPL") == []
    closed = harness.events(events.POSITION_CLOSED)
    assert closed[-1]["symbol"] == "AAPL" and Decimal(closed[-1]["pnl"]) == Decimal(
        "4999"
    )  # sold at the bid
    assert harness.state("AAPL") == {}


def test_stop_hit_closes_the_position(harness: Harness) -> None:
    _long_aapl(harness)
    harness.quote("AAPL", "91")  # elects the stop on the print ...
    harness.quote("AAPL", "91")  # ... which fills from the next quote
    assert harness.position_qty("AAPL") == 0
    assert harness.open_orders("AAPL") == []
    assert harness.events(events.POSITION_STOP_HIT)
    closed = harness.events(events.POSITION_CLOSED)
    assert closed[-1]["reason"] == "stop"
    assert Decimal(closed[-1]["pnl"]) < 0
    assert harness.state("AAPL") == {}


def test_short_position_is_mirrored(harness: Harness) -> None:
    risk_params(harness.client, "TSLA", atr="4", cap_class="large")
    harness.start()
    harness.approve("TSLA", "sell", 100, "100")
    assert harness.position_qty("TSLA") == -100
    stops = harness.stops("TSLA")
    assert [(s.side, s.stop_price) for s in stops] == [("buy", Decimal("108.00"))]
    harness.quote("TSLA", "90")  # low-water mark 90: trail 5% above -> 94.50
    assert [s.stop_price for s in harness.stops("TSLA")] == [Decimal("94.50")]
    harness.quote("TSLA", "80")  # +20% for a short: buy back half
    assert harness.position_qty("TSLA") == -50
    assert [s.qty for s in harness.stops("TSLA")] == [50]


def _sim_orders(harness: Harness, symbol: str) -> list[SimOrder]:
    return [o for o in harness.sim.simulator.engine.book.orders.values() if o.symbol == symbol]


def test_worker_killed_between_decided_and_acked_places_no_second_order(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _long_aapl(harness, atr="1")
    # the broker accepted the exit; nothing of it was written or acked
    die_before_writing(harness, monkeypatch, events.POSITION_PROFIT_TAKING)
    with pytest.raises(Killed):
        harness.quote("AAPL", "120")
    assert harness.worker is not None
    harness.worker.close()
    assert harness.position_qty("AAPL") == 50  # the sale happened
    assert harness.state("AAPL")["profit_levels_taken"] == ""  # ... but was not recorded

    harness.broker = harness.new_broker()  # a new process
    harness.start()
    harness.settle()
    sells = [o for o in _sim_orders(harness, "AAPL") if o.side == "sell" and o.type == "market"]
    assert len(sells) == 1
    assert harness.state("AAPL")["profit_levels_taken"] == "1"
    assert harness.position_qty("AAPL") == 50
    assert [s.qty for s in harness.stops("AAPL")] == [50]
    pending = harness.client.xpending(events.QUOTES_STREAM, "pm-worker")
    assert pending["pending"] == 0
