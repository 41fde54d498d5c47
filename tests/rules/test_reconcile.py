from decimal import Decimal

from position_manager.broker_types import BrokerOrder, OrderKind, OrderSide, TimeInForce
from rules.decisions import CancelOrder, ReplaceStop
from rules.reconcile import orphan_stops, reconcile_symbol
from tests.rules.helpers import D, make_position


def order(
    oid: str,
    symbol: str = "AAPL",
    kind: OrderKind = OrderKind.STOP,
    side: OrderSide = OrderSide.SELL,
    qty: object = 100,
    stop: object = 92,
    status: str = "new",
) -> BrokerOrder:
    return BrokerOrder(
        id=oid,
        client_order_id=f"c-{oid}",
        symbol=symbol,
        side=side,
        kind=kind,
        qty=D(qty),
        filled_qty=Decimal(0),
        status=status,
        time_in_force=TimeInForce.GTC,
        stop_price=D(stop) if stop is not None else None,
    )


def test_missing_stop_is_reported() -> None:
    result = reconcile_symbol(make_position(), [order("x", side=OrderSide.BUY)])
    assert result.needs_new_stop and result.kept_stop is None


def test_every_stop_type_counts_as_protection() -> None:
    for kind in (OrderKind.STOP, OrderKind.STOP_LIMIT, OrderKind.TRAILING_STOP):
        result = reconcile_symbol(make_position(), [order("a", kind=kind)])
        assert not result.needs_new_stop and result.decisions == ()


def test_duplicate_stops_keep_the_tightest_and_cancel_the_rest() -> None:
    result = reconcile_symbol(make_position(), [order("a", stop=90), order("b", stop=93)])
    assert result.kept_stop is not None and result.kept_stop.id == "b"
    assert result.decisions == (CancelOrder("AAPL", "a", "duplicate stop"),)


def test_mis_sized_stop_is_replaced_to_the_position_size() -> None:
    result = reconcile_symbol(make_position(qty=60), [order("a", qty=100)])
    (rep,) = result.decisions
    assert isinstance(rep, ReplaceStop) and (rep.order_id, rep.qty) == ("a", D(60))


def test_short_is_protected_by_buy_stops_only() -> None:
    short = make_position(qty=-10)
    assert reconcile_symbol(short, [order("a", qty=10)]).needs_new_stop
    assert not reconcile_symbol(
        short, [order("b", side=OrderSide.BUY, qty=10, stop=108)]
    ).needs_new_stop


def test_orphan_stops_are_cancelled_and_closed_orders_ignored() -> None:
    orders = [
        order("a", symbol="TSLA"),
        order("b"),
        order("c", symbol="TSLA", status="canceled"),
        order("d", symbol="TSLA", kind=OrderKind.LIMIT),
    ]
    assert [c.order_id for c in orphan_stops({"AAPL"}, orders)] == ["a"]
