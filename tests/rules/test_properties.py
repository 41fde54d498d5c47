"""Invariants over generated positions and price paths."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from position_manager.cap_class import CapClass
from position_manager.session import Session
from rules.apply import apply_executed
from rules.decisions import ReplaceStop, SubmitExit
from rules.evaluate import evaluate_quote
from rules.model import Side
from rules.params import DEFAULT_PARAMS as P
from rules.pnl import unrealized_pnl
from rules.profit_taking import profit_taking_decisions
from rules.session_policy import ExitStyle
from rules.stops import stop_and_target, stop_is_on_losing_side
from rules.ticks import tick_size
from rules.trailing import min_stop_move
from tests.rules.helpers import make_position, quote

prices = st.decimals(min_value="0.05", max_value="5000", places=2, allow_nan=False)
atrs = st.one_of(st.none(), st.decimals(min_value="0.01", max_value="500", places=2))
caps = st.sampled_from(list(CapClass))
sides = st.sampled_from(list(Side))
quantities = st.one_of(
    st.integers(min_value=1, max_value=100_000).map(Decimal),
    st.decimals(min_value="0.001", max_value="5000", places=3).filter(lambda d: d > 0),
)


@given(prices, sides, caps, atrs)
def test_stop_is_always_on_the_losing_side_and_on_the_tick(
    entry: Decimal, side: Side, cap: CapClass, atr: Decimal | None
) -> None:
    plan = stop_and_target(entry, side, cap, atr, P)
    assert stop_is_on_losing_side(side, entry, plan.stop_price)
    assert plan.stop_price % tick_size(plan.stop_price) == 0
    if plan.target_price is not None:
        assert (plan.target_price > entry) == (side is Side.LONG)


@given(prices, caps, atrs)
def test_short_maths_mirrors_long(entry: Decimal, cap: CapClass, atr: Decimal | None) -> None:
    long = stop_and_target(entry, Side.LONG, cap, atr, P)
    short = stop_and_target(entry, Side.SHORT, cap, atr, P)
    assert long.stop_pct == short.stop_pct and long.target_pct == short.target_pct
    # Equal distances, up to one tick of rounding.
    tick = max(tick_size(long.stop_price), tick_size(short.stop_price))
    assert abs((entry - long.stop_price) - (short.stop_price - entry)) <= tick


@given(prices, quantities, st.decimals(min_value="0.05", max_value="5000", places=2))
def test_short_pnl_mirrors_long(entry: Decimal, qty: Decimal, price: Decimal) -> None:
    long = unrealized_pnl(make_position(qty=qty, entry=entry), price, Session.REGULAR)
    short = unrealized_pnl(make_position(qty=-qty, entry=entry), price, Session.REGULAR)
    assert long.unrealized == -short.unrealized
    assert long.unrealized_pct == -short.unrealized_pct


@settings(max_examples=150)
@given(sides, caps, st.lists(st.decimals(min_value="-0.3", max_value="0.3", places=3), max_size=40))
def test_trailing_never_loosens_the_stop(side: Side, cap: CapClass, moves: list[Decimal]) -> None:
    entry = Decimal(100)
    plan = stop_and_target(entry, side, cap, None, P)
    pos = make_position(
        qty=100 * side.sign, entry=entry, cap=cap,
        stop_order_id="s", stop_price=plan.stop_price, stop_quantity=Decimal(100),
    )  # fmt: skip
    price = entry
    for move in moves:
        price = max(Decimal("1"), (price * (1 + move)).quantize(Decimal("0.01")))
        ev = evaluate_quote(pos, quote(price), Session.REGULAR, P)
        pos = ev.position
        for d in ev.decisions:
            if isinstance(d, ReplaceStop) and d.reason == "trail":
                assert pos.stop_price is not None
                tighter = (
                    d.stop_price > pos.stop_price
                    if side is Side.LONG
                    else (d.stop_price < pos.stop_price)
                )
                assert tighter
                assert abs(d.stop_price - pos.stop_price) >= min_stop_move(pos.stop_price, P)
                pos = apply_executed(pos, d, "s")


@settings(max_examples=150)
@given(
    sides,
    quantities,
    st.lists(st.decimals(min_value="50", max_value="250", places=2), min_size=1, max_size=30),
)
def test_sells_never_exceed_holdings_and_each_level_fires_once(
    side: Side, qty: Decimal, path: list[Decimal]
) -> None:
    pos = make_position(
        qty=qty * side.sign,
        entry=100,
        stop_order_id="s",
        stop_price=Decimal(92 if side is Side.LONG else 108),
    )
    fired: list[str] = []
    for price in path:
        for d in profit_taking_decisions(pos, price, ExitStyle.MARKET, P):
            if isinstance(d, SubmitExit):
                assert 0 < d.qty <= pos.size
                fired.append(d.reason)
                pos = apply_executed(pos, d, "o")
                remaining = pos.size - d.qty
                if remaining == 0:
                    return _assert_once(fired)
                pos = pos.evolve(quantity=remaining * side.sign)
            elif isinstance(d, ReplaceStop):
                assert d.qty <= pos.size
                pos = apply_executed(pos, d, "s2")
    _assert_once(fired)


def _assert_once(fired: list[str]) -> None:
    assert len(fired) == len(set(fired))
