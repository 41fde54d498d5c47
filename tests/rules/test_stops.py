from decimal import Decimal

import pytest

from position_manager.cap_class import CapClass
from position_manager.errors import RuleInputError
from rules.model import Side
from rules.params import DEFAULT_PARAMS as P
from rules.stops import stop_and_target
from rules.ticks import round_to_tick, tick_size
from tests.rules.helpers import D


def test_large_cap_stop_is_clamped_to_eight_percent() -> None:
    plan = stop_and_target(D(100), Side.LONG, CapClass.LARGE, D(3), P)
    assert plan.stop_pct == D("0.08")
    assert plan.stop_price == D("92.00")
    assert plan.target_price == D("116.00")
    assert plan.method == "atr"


def test_large_cap_stop_inside_the_band_uses_one_and_a_half_atr() -> None:
    plan = stop_and_target(D(100), Side.LONG, CapClass.LARGE, D(8), P)
    assert plan.stop_pct == D("0.12")
    assert (plan.stop_price, plan.target_price) == (D("88.00"), D("124.00"))


def test_large_cap_stop_is_clamped_to_fifteen_percent() -> None:
    plan = stop_and_target(D(100), Side.LONG, CapClass.LARGE, D(20), P)
    assert plan.stop_pct == D("0.15")
    assert plan.target_price == D("130.00")


def test_micro_cap_stop_is_two_atr_clamped_between_15_and_24_percent() -> None:
    assert stop_and_target(D(2), Side.LONG, CapClass.MICRO, D("0.1"), P).stop_pct == D("0.15")
    mid = stop_and_target(D(2), Side.LONG, CapClass.MICRO, D("0.2"), P)
    assert mid.stop_pct == D("0.2")
    assert (mid.stop_price, mid.target_price) == (D("1.60"), D("3.20"))
    assert stop_and_target(D(2), Side.LONG, CapClass.MICRO, D("1"), P).stop_pct == D("0.24")


@pytest.mark.parametrize(
    ("cap", "stop", "target"),
    [(CapClass.MICRO, "80.00", "160.00"), (CapClass.LARGE, "88.00", "124.00")],
)
def test_missing_atr_falls_back_to_fixed_percentages(cap: CapClass, stop: str, target: str) -> None:
    for atr in (None, Decimal("NaN"), D(0), D(-1)):
        plan = stop_and_target(D(100), Side.LONG, cap, atr, P)
        assert (plan.stop_price, plan.target_price, plan.method) == (D(stop), D(target), "fallback")


def test_short_stop_is_above_entry_and_target_below() -> None:
    plan = stop_and_target(D(100), Side.SHORT, CapClass.LARGE, D(3), P)
    assert (plan.stop_price, plan.target_price) == (D("108.00"), D("84.00"))


def test_short_micro_target_that_would_be_negative_is_none() -> None:
    from dataclasses import replace

    params = replace(P, micro=replace(P.micro, fallback_target_pct=D("1.2")))
    plan = stop_and_target(D(1), Side.SHORT, CapClass.MICRO, None, params)
    assert plan.target_price is None
    assert plan.stop_price == D("1.20")


def test_sub_dollar_prices_use_four_decimals() -> None:
    plan = stop_and_target(D("0.8333"), Side.LONG, CapClass.MICRO, None, P)
    # 0.8333 x 0.80 = 0.66664: the tighter tick (0.6667, 19.99 %), not half-up 0.6666 (20.005 %).
    assert plan.stop_price == D("0.6667")
    assert tick_size(plan.stop_price) == D("0.0001")


def test_rounding_across_one_dollar_uses_the_penny() -> None:
    assert round_to_tick(D("0.99996")) == D("1.00")
    assert round_to_tick(D("1.005")) == D("1.01")


@pytest.mark.parametrize("bad", [D("NaN"), D(0), D(-5), Decimal("Infinity")])
def test_bad_entry_price_is_a_clear_error(bad: Decimal) -> None:
    with pytest.raises(RuleInputError, match="entry price"):
        stop_and_target(bad, Side.LONG, CapClass.LARGE, D(3), P)


def test_short_initial_stop_rounds_toward_the_tighter_side_not_past_the_cap() -> None:
    """Regression (lifecycle issue, finding 5): 1.30 x 1.15 = 1.495 rounded half-up was $1.50,
    a 15.38 % stop against the 15 % large-cap cap."""
    plan = stop_and_target(D("1.30"), Side.SHORT, CapClass.LARGE, D(5), P)
    assert plan.stop_pct == P.large.stop_max_pct == D("0.15")
    assert plan.stop_price == D("1.49")
    assert (plan.stop_price - D("1.30")) / D("1.30") <= P.large.stop_max_pct


def test_long_initial_stop_rounds_up_toward_the_tighter_side() -> None:
    # 10.04 x 0.85 = 8.534: half-up gave 8.53 (a 15.04 % stop), the tighter tick is 8.54.
    plan = stop_and_target(D("10.04"), Side.LONG, CapClass.LARGE, D(50), P)
    assert plan.stop_price == D("8.54")
    assert (D("10.04") - plan.stop_price) / D("10.04") <= P.large.stop_max_pct
