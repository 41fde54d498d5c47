"""A quote that jumps is believed only when the broker's own latest trade agrees."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rules.plausibility import confirmed_by, needs_confirmation

D = Decimal
MOVE, TOLERANCE = D("0.10"), D("0.02")


def test_moves_up_to_the_limit_need_no_confirmation_and_beyond_it_do() -> None:
    assert not needs_confirmation(D(100), D(110), MOVE)
    assert not needs_confirmation(D(100), D(90), MOVE)
    assert needs_confirmation(D("100"), D("110.01"), MOVE)
    assert needs_confirmation(D("100"), D("89.99"), MOVE)
    assert needs_confirmation(D(100), D(1_000_000), MOVE)  # AAPL "at" a million
    assert needs_confirmation(D(100), D("0.0001"), MOVE)  # a short "at" nothing
    assert not needs_confirmation(None, D(1_000_000), MOVE)  # nothing known to compare with


def test_the_broker_confirms_only_a_price_close_to_its_own_trade() -> None:
    assert confirmed_by(D(130), D("129.00"), TOLERANCE)
    assert not confirmed_by(D(130), D(100), TOLERANCE)
    assert not confirmed_by(D(130), None, TOLERANCE)  # no trade known
    assert not confirmed_by(D(130), D(0), TOLERANCE)


@given(
    last=st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2),
    ratio=st.decimals(min_value=D("0.001"), max_value=D(1000), places=3),
)
def test_a_move_within_the_limit_is_never_sent_for_confirmation(last: D, ratio: D) -> None:
    price = last * ratio
    assert needs_confirmation(last, price, MOVE) == (abs(ratio - 1) > MOVE)
