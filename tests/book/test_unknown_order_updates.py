"""An order update is acted on only as the broker tells it (issue 11, plausibility): a fill for
an order the book does not track, or for a symbol it does not hold, is looked up first. Before:
a forged fill for an unheld symbol placed a real sell stop for it (one that would open a short),
and a forged fill on a held symbol shrank the book."""

from __future__ import annotations

from decimal import Decimal

from position_manager import events
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager.events import publish
from tests.support.worker_harness import Harness, risk_params


def _forged_fill(harness: Harness, symbol: str, qty: int, position_qty: int) -> None:
    publish(
        harness.client,
        events.ORDER_FILLED,
        {
            "symbol": symbol,
            "order_id": "5e3c4f0a-0000-4000-8000-000000000001",
            "client_order_id": "not-ours",
            "side": "buy",
            "order_type": "market",
            "filled_qty": str(qty),
            "price": "100",
            "position_qty": str(position_qty),
        },
    )
    harness.settle()


def _unverified(harness: Harness) -> list[dict[str, object]]:
    return [
        e
        for e in harness.events(events.POSITION_ERROR)
        if e["error_type"] == "unverified_order_update"
    ]


def _aapl(harness: Harness) -> None:
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    sim.feed_quote("AAPL", Decimal("99.99"), Decimal("100.01"), Decimal(100))
    risk_params(harness.client, "AAPL", atr="2", cap_class="large")
    harness.start()


def test_a_forged_fill_for_a_symbol_not_held_places_nothing(harness: Harness) -> None:
    _aapl(harness)
    _forged_fill(harness, "MSFT", 100, 100)
    assert harness.state("MSFT") == {}
    assert harness.open_orders("MSFT") == []
    assert "MSFT" not in [e["symbol"] for e in harness.events(events.POSITION_OPENED)]
    (error,) = _unverified(harness)
    assert error["symbol"] == "MSFT" and "no such order" in str(error["message"])


def test_a_forged_fill_on_a_held_symbol_leaves_the_book_alone(harness: Harness) -> None:
    _aapl(harness)
    stops = [(s.id, s.qty) for s in harness.stops("AAPL")]
    _forged_fill(harness, "AAPL", 40, 140)
    assert harness.state("AAPL")["quantity"] == "100"
    assert [(s.id, s.qty) for s in harness.stops("AAPL")] == stops
    assert [e["symbol"] for e in _unverified(harness)] == ["AAPL"]


def test_a_sale_made_by_hand_is_applied_as_the_broker_tells_it(harness: Harness) -> None:
    """A trader sells 40 in the broker's app: the worker does not know the order, asks, and
    books what the broker says (quantity, price), then fits the stop to the 60 left."""
    _aapl(harness)
    (stop,) = harness.stops("AAPL")
    harness.broker.replace_order(stop.id, qty=Decimal(60))  # the app frees the shares first
    harness.settle()
    harness.broker.submit_order(
        OrderRequest(
            symbol="AAPL",
            side=OrderSide.SELL,
            qty=Decimal(40),
            kind=OrderKind.MARKET,
            time_in_force=TimeInForce.DAY,
            client_order_id="by-hand-1",
        )
    )
    harness.quote("AAPL", "101")  # the market order fills at the next quote
    assert harness.position_qty("AAPL") == 60
    assert harness.state("AAPL")["quantity"] == "60"
    assert _unverified(harness) == []
    assert [s.qty for s in harness.stops("AAPL")] == [Decimal(60)]
