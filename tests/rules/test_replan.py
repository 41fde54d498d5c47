"""Re-planning a fallback stop from a real ATR: tighten to the plan, never loosen."""

from __future__ import annotations

from typing import Any

import pytest

from position_manager.session import Session
from rules.decisions import PlaceStop, ReplaceStop
from rules.evaluate import evaluate_quote
from rules.params import DEFAULT_PARAMS as P
from rules.protection import protect_decisions
from rules.replan import atr_replan
from tests.rules.helpers import D, make_position, quote

LONG_FALLBACK: dict[str, Any] = {
    "stop_order_id": "s-1", "stop_price": D("88.00"), "stop_quantity": D(100),
    "stop_basis": "fallback",
}  # fmt: skip
SHORT_FALLBACK: dict[str, Any] = {**LONG_FALLBACK, "stop_price": D("112.00")}


def test_without_an_atr_the_stop_is_placed_with_the_fallback_basis() -> None:
    (place,) = protect_decisions(make_position(), None, D(100), P)
    assert isinstance(place, PlaceStop) and (place.stop_price, place.basis) == (D(88), "fallback")
    (place,) = protect_decisions(make_position(), D(2), D(100), P)
    assert isinstance(place, PlaceStop) and (place.stop_price, place.basis) == (D(92), "atr")


def test_a_long_fallback_stop_is_raised_to_the_atr_plan() -> None:
    replan = atr_replan(make_position(**LONG_FALLBACK), D(2), D(100), P)
    assert isinstance(replan, ReplaceStop) and replan.reason == "replan"
    assert (replan.stop_price, replan.previous_stop_price, replan.qty) == (D(92), D(88), D(100))


def test_a_short_fallback_stop_is_lowered_to_the_atr_plan() -> None:
    pos = make_position(qty=-100, **SHORT_FALLBACK)
    replan = atr_replan(pos, D(2), D(100), P)
    assert replan is not None and replan.stop_price == D(108)


@pytest.mark.parametrize(("qty", "stop"), [(100, "88.00"), (-100, "112.00")], ids=["long", "short"])
def test_a_looser_plan_is_never_applied(qty: int, stop: str) -> None:
    # ATR 12: 18 % clamped to 15 %, further than the 12 % fallback on either side.
    pos = make_position(qty=qty, **{**LONG_FALLBACK, "stop_price": D(stop)})
    assert atr_replan(pos, D(12), D(100), P) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"stop_basis": "atr"},  # planned from an ATR already
        {"stop_basis": "trailed"},  # the trail rules it now
        {"stop_basis": None},  # adopted: where it came from is not known
        {"stop_order_id": None},  # no live stop to replace
    ],
)
def test_only_a_live_fallback_stop_is_replanned(changes: dict[str, Any]) -> None:
    assert atr_replan(make_position(**{**LONG_FALLBACK, **changes}), D(2), D(100), P) is None


def test_no_usable_atr_or_no_price_changes_nothing() -> None:
    pos = make_position(**LONG_FALLBACK)
    assert atr_replan(pos, None, D(100), P) is None
    assert atr_replan(pos, D(0), D(100), P) is None
    assert atr_replan(pos, D(2), None, P) is None


def test_a_plan_the_market_has_already_crossed_is_not_sent() -> None:
    # At 91 a sell stop at 92 would be refused (at or above the price): keep the fallback.
    assert atr_replan(make_position(**LONG_FALLBACK), D(2), D(91), P) is None


@pytest.mark.parametrize("session", list(Session))
def test_the_quote_path_replans_in_every_session(session: Session) -> None:
    ev = evaluate_quote(make_position(**LONG_FALLBACK), quote(100), session, P, atr=D(2))
    (replan,) = ev.decisions
    assert isinstance(replan, ReplaceStop) and replan.reason == "replan"
