from decimal import Decimal

import pytest

from position_manager.errors import RuleInputError
from position_manager.session import Session
from rules.pnl import unrealized_pnl
from rules.session_policy import ExitStyle, policy_for
from rules.ticks import to_decimal
from tests.rules.helpers import D, make_position


def test_long_pnl_in_dollars_and_fraction() -> None:
    pnl = unrealized_pnl(make_position(qty=100, entry=50), D(55), Session.REGULAR)
    assert (pnl.unrealized, pnl.unrealized_pct, pnl.extended_hours) == (D(500), D("0.1"), False)


def test_short_pnl_is_mirrored() -> None:
    pnl = unrealized_pnl(make_position(qty=-100, entry=50), D(55), Session.POST)
    assert (pnl.unrealized, pnl.unrealized_pct, pnl.extended_hours) == (D(-500), D("-0.1"), True)


def test_fractional_pnl() -> None:
    pnl = unrealized_pnl(make_position(qty="2.5", entry=10), D(12), Session.PRE)
    assert pnl.unrealized == D("5.0")
    assert pnl.extended_hours


@pytest.mark.parametrize("bad", ["NaN", "-1", "0", "inf"])
def test_bad_price_is_rejected(bad: str) -> None:
    with pytest.raises(RuleInputError):
        unrealized_pnl(make_position(), Decimal(bad), Session.REGULAR)


def test_to_decimal_rejects_garbage() -> None:
    assert to_decimal("12.30") == D("12.30")
    assert to_decimal(1.1) == D("1.1")
    for bad in ("abc", None, True, float("nan"), [1]):
        with pytest.raises(RuleInputError):
            to_decimal(bad)


def test_session_policy_table() -> None:
    regular, pre = policy_for(Session.REGULAR), policy_for(Session.PRE)
    post, closed = policy_for(Session.POST), policy_for(Session.CLOSED)
    assert regular.trail_stops and regular.take_profit and regular.exit_style is ExitStyle.MARKET
    assert not pre.trail_stops and not pre.take_profit and pre.exit_style is None
    assert not post.trail_stops and post.take_profit and post.exit_style is ExitStyle.EXTENDED_LIMIT
    assert not closed.publish_pnl and not closed.take_profit and closed.exit_style is None
    assert all(p.place_protective_stop for p in (regular, pre, post, closed))
