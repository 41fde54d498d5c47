"""The product's behaviour table, one rule at a time."""

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from position_manager.broker_types import OrderSide, TimeInForce
from position_manager.cap_class import CapClass
from position_manager.session import Session
from rules.apply import apply_executed, exit_died, exit_filled, exit_working
from rules.decisions import CancelOrder, PlaceStop, ReplaceStop, SubmitExit
from rules.earnings import earnings_reduction_decisions
from rules.evaluate import evaluate_quote
from rules.params import DEFAULT_PARAMS as P
from rules.profit_taking import profit_taking_decisions
from rules.session_policy import ExitStyle
from rules.trailing import propose_trailing_stop
from tests.rules.helpers import D, make_position, quote

PROTECTED: dict[str, Any] = {
    "stop_order_id": "stop-1",
    "stop_price": D(92),
    "stop_quantity": D(100),
}


def test_unprotected_position_gets_an_atr_stop() -> None:
    pos = make_position(session=Session.REGULAR)
    ev = evaluate_quote(pos, quote(101), Session.REGULAR, P, atr=D(3))
    (place,) = ev.decisions
    assert isinstance(place, PlaceStop)
    assert (place.side, place.qty, place.stop_price) == (OrderSide.SELL, D(100), D("92.00"))
    assert place.client_order_id == f"pm-{pos.position_key}-stop-g0"


def test_unprotected_short_gets_a_buy_stop_above() -> None:
    pos = make_position(qty=-50)
    (place,) = evaluate_quote(pos, quote(99), Session.CLOSED, P, atr=D(3)).decisions
    assert isinstance(place, PlaceStop)
    assert (place.side, place.qty, place.stop_price) == (OrderSide.BUY, D(50), D("108.00"))


def test_breached_unprotected_position_is_exited_in_regular_session() -> None:
    pos = make_position()
    (exit_,) = evaluate_quote(pos, quote(90), Session.REGULAR, P, atr=D(3)).decisions
    assert isinstance(exit_, SubmitExit)
    assert (exit_.qty, exit_.order_type, exit_.reason) == (D(100), "market", "stop_breach")


def test_trailing_moves_stop_up_from_the_high_water_mark() -> None:
    pos = make_position(**PROTECTED, best_price=D(100))
    ev = evaluate_quote(pos, quote(110), Session.REGULAR, P)
    (rep,) = ev.decisions
    assert isinstance(rep, ReplaceStop)
    assert (rep.stop_price, rep.previous_stop_price, rep.qty) == (D("104.50"), D(92), D(100))
    assert ev.position.best_price == D(110)


def test_trailing_never_loosens_after_a_pullback() -> None:
    pos = make_position(**{**PROTECTED, "stop_price": D("104.50")}, best_price=D(110))
    assert evaluate_quote(pos, quote(106), Session.REGULAR, P).decisions == ()


def test_trailing_waits_for_min_stop_adjustment() -> None:
    pos = make_position(**{**PROTECTED, "stop_price": D("104.50")}, best_price=D(110))
    # new high 110.10 -> candidate 104.59: only 0.09 tighter than 104.50
    assert propose_trailing_stop(pos.evolve(best_price=D("110.10")), D("110.1"), P) is None
    rep = propose_trailing_stop(pos.evolve(best_price=D("110.20")), D("110.2"), P)
    assert rep is not None and rep.stop_price == D("104.69")


def test_trailing_only_in_regular_session() -> None:
    pos = make_position(**PROTECTED, best_price=D(100))
    for session in (Session.PRE, Session.POST, Session.CLOSED):
        assert evaluate_quote(pos, quote(110), session, P).decisions == ()


def test_micro_cap_trails_nine_percent() -> None:
    pos = make_position(cap=CapClass.MICRO, entry=2, **{**PROTECTED, "stop_price": D("1.60")})
    (rep,) = evaluate_quote(pos, quote("2.2"), Session.REGULAR, P).decisions
    assert isinstance(rep, ReplaceStop) and rep.stop_price == D("2.00")


def _trails_along(pos: Any, path: list[str], params: Any) -> list[Decimal]:
    """The stops a rising path trails a position to, each replace applied as the broker would."""
    stops = []
    for price in path:
        ev = evaluate_quote(pos, quote(price), Session.REGULAR, params)
        pos = ev.position
        for d in ev.decisions:
            assert isinstance(d, ReplaceStop) and d.reason == "trail"
            pos = apply_executed(pos, d, "stop-1")
            stops.append(d.stop_price)
    return stops


def test_a_sub_dollar_stock_trails_more_than_once() -> None:
    # $0.80 micro-cap, 9 % trail: a ten-cent minimum is 12 % of its stop, so dollars alone let
    # it trail once (to 0.8008 at 0.88) and then stall; the percentage floor (0.5 % of the
    # stop, about $0.004 here) lets it follow every step.
    pos = make_position(
        symbol="BNGO", cap=CapClass.MICRO, entry="0.80", qty=1000,
        stop_order_id="stop-1", stop_price=D("0.68"), stop_quantity=D(1000),
    )  # fmt: skip
    path = ["0.88", "0.90", "0.92", "0.94", "0.95"]  # under +20 %: no profit-taking
    stops = _trails_along(pos, path, P)
    assert stops == [D("0.8008"), D("0.8190"), D("0.8372"), D("0.8554"), D("0.8645")]
    dollars_only = replace(P, min_stop_adjustment_pct=Decimal("0.99"))
    assert _trails_along(pos, path, dollars_only) == [D("0.8008")]


def test_a_dear_stock_still_waits_for_ten_cents() -> None:
    # 0.5 % of a $104.50 stop is $0.52: the dollar minimum is the smaller and still rules.
    pos = make_position(**{**PROTECTED, "stop_price": D("104.50")}, best_price=D(110))
    assert propose_trailing_stop(pos.evolve(best_price=D("110.10")), D("110.1"), P) is None


def test_short_trails_down_from_the_low_water_mark() -> None:
    pos = make_position(qty=-100, stop_order_id="s", stop_price=D(108), stop_quantity=D(100))
    (rep,) = evaluate_quote(pos, quote(90), Session.REGULAR, P).decisions
    assert isinstance(rep, ReplaceStop) and rep.stop_price == D("94.50")
    assert (
        evaluate_quote(
            pos.evolve(stop_price=D("94.50"), best_price=D(90)), quote(93), Session.REGULAR, P
        ).decisions
        == ()
    )


def test_first_target_shrinks_the_stop_then_sells_half_of_original() -> None:
    pos = make_position(**PROTECTED)
    shrink, sell = profit_taking_decisions(pos, D(120), ExitStyle.MARKET, P)
    assert isinstance(shrink, ReplaceStop) and shrink.reason == "shrink"
    assert (shrink.qty, shrink.stop_price) == (D(50), D(92))
    assert isinstance(sell, SubmitExit)
    assert (sell.side, sell.qty, sell.order_type, sell.reason) == (
        OrderSide.SELL,
        D(50),
        "market",
        "profit_target_1",
    )
    assert sell.client_order_id.endswith("-tp1")


def test_first_target_fires_once() -> None:
    pos = make_position(**PROTECTED)
    _, sell = profit_taking_decisions(pos, D(121), ExitStyle.MARKET, P)
    after = apply_executed(pos, sell, "o-1").evolve(quantity=D(50), stop_quantity=D(50))
    assert profit_taking_decisions(after, D(125), ExitStyle.MARKET, P) == []


def test_second_target_cancels_the_stop_and_sells_the_rest() -> None:
    pos = make_position(
        **{**PROTECTED, "stop_quantity": D(50)}, quantity=D(50), profit_levels_taken=frozenset({1})
    )
    cancel, sell = profit_taking_decisions(pos, D(150), ExitStyle.MARKET, P)
    assert isinstance(cancel, CancelOrder) and cancel.order_id == "stop-1"
    assert isinstance(sell, SubmitExit) and sell.qty == D(50) and sell.reason == "profit_target_2"
    done = apply_executed(pos, sell, "o-2")
    assert done.profit_levels_taken == frozenset({1, 2})


def test_gap_past_both_targets_exits_everything_once() -> None:
    pos = make_position(**PROTECTED)
    decisions = profit_taking_decisions(pos, D(160), ExitStyle.MARKET, P)
    assert [type(d) for d in decisions] == [CancelOrder, SubmitExit]
    assert decisions[1].qty == D(100)  # type: ignore[union-attr]


def test_extended_hours_exit_is_a_day_limit_half_a_percent_through() -> None:
    pos = make_position(**PROTECTED)
    _, sell = profit_taking_decisions(pos, D(120), ExitStyle.EXTENDED_LIMIT, P)
    assert isinstance(sell, SubmitExit)
    assert (sell.order_type, sell.limit_price, sell.extended_hours, sell.time_in_force) == (
        "limit",
        D("119.40"),
        True,
        TimeInForce.DAY,
    )


def test_short_profit_taking_buys_to_cover_with_limit_above() -> None:
    pos = make_position(qty=-100, stop_order_id="s", stop_price=D(108), stop_quantity=D(100))
    _, cover = profit_taking_decisions(pos, D(80), ExitStyle.EXTENDED_LIMIT, P)
    assert isinstance(cover, SubmitExit)
    assert (cover.side, cover.qty, cover.limit_price) == (OrderSide.BUY, D(50), D("80.40"))


def test_profit_taking_not_in_pre_market() -> None:
    pos = make_position(**PROTECTED)
    assert evaluate_quote(pos, quote(130), Session.PRE, P).decisions == ()
    assert evaluate_quote(pos, quote(130), Session.POST, P).decisions != ()


def test_odd_lot_half_rounds_down_and_fractional_half_is_exact() -> None:
    _, sell = profit_taking_decisions(
        make_position(qty=3, **{**PROTECTED, "stop_quantity": D(3)}), D(121), ExitStyle.MARKET, P
    )
    assert sell.qty == D(1)  # type: ignore[union-attr]
    frac = make_position(qty="10.5", stop_order_id="s", stop_price=D(92), stop_quantity=D(10))
    shrink, sell = profit_taking_decisions(frac, D(121), ExitStyle.MARKET, P)
    assert sell.qty == D("5.25")  # type: ignore[union-attr]
    assert shrink.qty == D(5)  # type: ignore[union-attr]  # whole shares of the 5.25 left


def test_pre_earnings_halves_once_per_report_date() -> None:
    pos = make_position(**PROTECTED)
    report = date(2026, 12, 1)
    shrink, sell = earnings_reduction_decisions(
        pos, date(2026, 11, 24), report, D(101), ExitStyle.MARKET, P
    )
    assert isinstance(sell, SubmitExit) and sell.qty == D(50) and sell.reason == "pre_earnings"
    assert isinstance(shrink, ReplaceStop) and shrink.qty == D(50)
    reduced = apply_executed(pos, sell, "o").evolve(quantity=D(50), stop_quantity=D(50))
    assert reduced.earnings_reduced_for == report
    assert (
        earnings_reduction_decisions(
            reduced, date(2026, 11, 25), report, D(101), ExitStyle.MARKET, P
        )
        == []
    )
    next_quarter = date(2027, 3, 1)
    again = earnings_reduction_decisions(
        reduced, date(2027, 2, 25), next_quarter, D(101), ExitStyle.MARKET, P
    )
    assert again[-1].qty == D(25)  # type: ignore[union-attr]


def test_a_pre_earnings_exit_that_sold_part_then_died_sells_only_the_rest() -> None:
    """100 shares: the reduction offers 50, 20 fill, the rest expires. Re-armed, it sells the 30
    it did not sell (50 in all), not half of the 80 left (60 in all)."""
    pos = make_position(**PROTECTED)
    today, report = date(2026, 11, 24), date(2026, 12, 1)
    _, sell = earnings_reduction_decisions(pos, today, report, D(101), ExitStyle.MARKET, P)
    assert isinstance(sell, SubmitExit)
    cid = sell.client_order_id
    working = exit_working(apply_executed(pos, sell, "o"), cid, sell.qty, D(0))
    part = exit_filled(working, cid, D(20), done=False).evolve(quantity=D(80))
    rearmed = exit_died(part, cid)
    assert rearmed.earnings_reduced_for is None and rearmed.earnings_unsold == D(30)
    _, again = earnings_reduction_decisions(rearmed, today, report, D(101), ExitStyle.MARKET, P)
    assert isinstance(again, SubmitExit) and again.qty == D(30)
    assert again.client_order_id != cid  # the next generation: the dead id is spent
    done = exit_filled(
        exit_working(apply_executed(rearmed, again, "o2"), again.client_order_id, D(30), D(0)),
        again.client_order_id,
        D(30),
        done=True,
    ).evolve(quantity=D(50))
    assert done.earnings_reduced_for == report and done.earnings_unsold is None
    next_quarter = date(2027, 3, 1)
    _, later = earnings_reduction_decisions(
        done, date(2027, 2, 25), next_quarter, D(101), ExitStyle.MARKET, P
    )
    assert later.qty == D(25)  # type: ignore[union-attr]  # half again, for the next report


def test_pre_earnings_window_is_seven_days() -> None:
    pos = make_position(**PROTECTED)
    today = date(2026, 11, 24)
    assert (
        earnings_reduction_decisions(pos, today, date(2026, 12, 2), D(101), ExitStyle.MARKET, P)
        == []
    )
    assert (
        earnings_reduction_decisions(pos, today, date(2026, 12, 1), D(101), ExitStyle.MARKET, P)
        != []
    )
    assert (
        earnings_reduction_decisions(pos, today, date(2026, 11, 23), D(101), ExitStyle.MARKET, P)
        == []
    )


def test_stop_hit_and_target_hit_events_fire_on_the_crossing_quote_only() -> None:
    pos = make_position(**PROTECTED, target_price=D(116), last_price=D(100))
    hit = evaluate_quote(pos, quote("91.5"), Session.REGULAR, P)
    assert [e.name for e in hit.events] == ["position.stop_hit"]
    again = evaluate_quote(hit.position, quote(91), Session.REGULAR, P)
    assert again.events == ()
    up = evaluate_quote(pos, quote(117), Session.REGULAR, P)
    assert "position.target_hit" in [e.name for e in up.events]


def test_decimal_inputs_are_not_mutated_by_evaluation() -> None:
    pos = make_position(**PROTECTED)
    evaluate_quote(pos, quote(130), Session.REGULAR, P)
    assert pos.best_price is None and pos.profit_levels_taken == frozenset()
    assert isinstance(pos.entry_price, Decimal)


def test_first_target_after_an_earnings_cut_keeps_the_rest_for_the_second() -> None:
    pos = make_position(**{**PROTECTED, "stop_quantity": D(50)}, quantity=D(50))
    assert profit_taking_decisions(pos, D(121), ExitStyle.MARKET, P) == []
    cancel, sell = profit_taking_decisions(pos, D(151), ExitStyle.MARKET, P)
    assert isinstance(cancel, CancelOrder)
    assert isinstance(sell, SubmitExit) and sell.qty == D(50)


def test_first_target_after_a_partial_cut_sells_down_to_half_of_original() -> None:
    pos = make_position(**{**PROTECTED, "stop_quantity": D(80)}, quantity=D(80))
    _, sell = profit_taking_decisions(pos, D(121), ExitStyle.MARKET, P)
    assert isinstance(sell, SubmitExit) and sell.qty == D(30)


def test_replace_ids_differ_per_replaced_order_and_repeat_for_a_retry() -> None:
    from rules.order_ids import replace_order_id

    first = replace_order_id("K", "order-a", D(50), D(92))
    assert first == replace_order_id("K", "order-a", D(50), D(92))
    assert first != replace_order_id("K", "order-b", D(50), D(92))


def test_a_triggered_buy_stop_resting_above_its_collar_is_covered_by_a_marketable_exit() -> None:
    """Alpaca turns a short's buy stop into a stop-limit 2.5 % above the stop ($50 and over): on a
    gap above it the stop triggers and rests (alpaca-notes). The crossing quote reports the hit;
    a later quote still above the collar cancels the stop and covers at market, once."""
    short = make_position(
        qty=-100,
        entry=100,
        stop_price=D(108),
        stop_order_id="s-1",
        stop_quantity=D(100),
        last_price=D(100),
    )
    hit = evaluate_quote(short, quote(112), Session.REGULAR, P)  # gap through 108 and 110.70
    assert [e.name for e in hit.events] == ["position.stop_hit"]
    assert hit.decisions == ()  # the stop may still fill: give it a quote
    resting = evaluate_quote(hit.position, quote(112), Session.REGULAR, P)
    assert [e.name for e in resting.events] == ["alert.stop_not_filled"]
    cancel, cover = resting.decisions
    assert isinstance(cancel, CancelOrder) and cancel.order_id == "s-1"
    assert isinstance(cover, SubmitExit)
    assert (cover.side, cover.qty, cover.order_type) == ("buy", D(100), "market")
    within = evaluate_quote(hit.position, quote("110.50"), Session.REGULAR, P)  # under 110.70
    assert within.decisions == () and within.events == ()
