"""The chaos run's instrument, checked on books and streams made by hand: each invariant figure
must count what is wrong and nothing else (a blind instrument would pass any worker)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.chaos import checks
from app.chaos.chaos_threads import kill_plan
from app.chaos.history import ClosedTrade
from app.chaos.market import BOOK, BY_SYMBOL, garbage, stepped
from app.chaos.monitor import BookMonitor, Observed
from app.chaos.observe import decision_of, peak_in_window, unprotected
from app.chaos.profile import CI, FULL
from position_manager import events
from position_manager.errors import InvalidEventError
from simulator.state import SimBook, SimOrder, SimPosition

D = Decimal
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
KEY = "NVDA-l-0123456789"


def order(cid: str, symbol: str = "NVDA", *, side: str = "sell", type_: str = "stop",
          qty: str = "40", status: str = "new", filled: str = "0", price: str | None = None,
          stop: str | None = "109") -> SimOrder:  # fmt: skip
    return SimOrder(
        id=f"id-{cid}", client_order_id=cid, symbol=symbol, side=side, type=type_,
        time_in_force="gtc", qty=D(qty), status=status, created_at=T0, updated_at=T0,
        submitted_at=T0, filled_qty=D(filled), filled_avg_price=D(price) if price else None,
        stop_price=D(stop) if stop else None,
    )  # fmt: skip


def book(orders: list[SimOrder], held: dict[str, str]) -> SimBook:
    return SimBook(
        account_id="a", account_number="PA1", cash=D(0), created_at=T0,
        orders={o.id: o for o in orders},
        positions={s: SimPosition(s, D(q), BY_SYMBOL[s].entry) for s, q in held.items()},
    )  # fmt: skip


def event(name: str, **data: Any) -> events.Event:
    return events.Event(name, f"e{random.random()}", T0, data)


def records(b: SimBook, evs: list[events.Event], trades: list[ClosedTrade] | None = None) -> Any:
    return checks.Records(b, evs, [], trades or [], {})


def test_a_decision_is_a_level_a_report_date_or_a_breach_whatever_its_generation() -> None:
    assert decision_of(f"pm-{KEY}-tp1") == (KEY, "tp1")
    assert decision_of(f"pm-{KEY}-tp1-r2") == (KEY, "tp1")
    assert decision_of(f"pm-{KEY}-earn-20261127-r1") == (KEY, "earn-20261127")
    assert decision_of(f"pm-{KEY}-breach-109p02") == (KEY, "breach")
    assert decision_of(f"pm-{KEY}-stop-g3") is None


def test_two_filled_orders_for_one_profit_level_are_a_duplicate_and_a_double_level() -> None:
    b = book(
        [order(f"pm-{KEY}-tp1", type_="market", status="filled", qty="20", filled="20", stop=None),
         order(f"pm-{KEY}-tp1-r1", type_="market", status="filled", qty="20", filled="20",
               stop=None)],
        {"NVDA": "0"},
    )  # fmt: skip
    assert len(checks.duplicate_orders(b, Observed())) == 1
    assert checks.double_profit_levels(b)  # filled twice, and 40 of 40 sold at level 1
    rearmed = book(
        [order(f"pm-{KEY}-tp1", type_="market", status="canceled", qty="20", stop=None),
         order(f"pm-{KEY}-tp1-r1", type_="market", status="filled", qty="20", filled="20",
               stop=None)],
        {"NVDA": "20"},
    )  # fmt: skip
    assert checks.duplicate_orders(rearmed, Observed()) == []
    assert checks.double_profit_levels(rearmed) == []


def test_an_order_without_its_position_event_and_a_silent_close_are_lost_events() -> None:
    stop = order(f"pm-{KEY}-stop-g0", status="filled", filled="40", price="109")
    replace = order(f"pm-{KEY}-rpab-40-110", status="new")
    others = {s: str(h.qty) for s, h in BY_SYMBOL.items() if s != "NVDA"}
    b = book([stop, replace], others)
    named = [event(events.POSITION_STOP_SET, symbol="NVDA", stop_order_id=stop.id)]
    lost = checks.lost_events(records(b, named))
    assert len(lost) == 3
    assert "no stop_hit or closed" in lost[0]  # the stop filled silently
    assert "rpab" in lost[1]  # the replacement nobody reported
    assert lost[2] == "NVDA: flat at the broker, no position.closed"
    complete = [
        *named,
        event(events.POSITION_TRAILING_STOP_UPDATED, symbol="NVDA", stop_order_id=replace.id),
        event(events.POSITION_STOP_HIT, symbol="NVDA", order_id=stop.id),
        event(events.POSITION_CLOSED, symbol="NVDA", order_id=stop.id),
    ]
    assert checks.lost_events(records(b, complete)) == []


def test_the_same_hit_twice_is_a_duplicate_event() -> None:
    hit = event(events.POSITION_STOP_HIT, symbol="SNDL", order_id="o1")
    again = event(events.POSITION_STOP_HIT, symbol="SNDL", order_id="o1")
    assert checks.duplicate_events(records(book([], {}), [hit, again])) == [
        "position.stop_hit for order o1: 2 times"
    ]
    assert checks.duplicate_events(records(book([], {}), [hit, hit])) != []  # same event id


def test_closed_trades_must_equal_the_broker_fills_to_the_cent() -> None:
    sold = order("pm-SNDL-l-0123456789-stop-g0", "SNDL", qty="1500", status="filled",
                 filled="1500", price="1.74", stop="1.75")  # fmt: skip
    b = book([sold], {s: str(h.qty) for s, h in BY_SYMBOL.items() if s != "SNDL"})
    broker = (D("1.74") - D("2.05")) * 1500  # -465.00
    right = ClosedTrade("SNDL-l-0123456789", "SNDL", broker)
    assert checks.pnl_mismatches(records(b, [], [right])) == []
    wrong = ClosedTrade("SNDL-l-0123456789", "SNDL", D(0))
    assert checks.pnl_mismatches(records(b, [], [wrong])) == [
        "SNDL: closed_trades 0.00, broker fills -465.00"
    ]
    assert checks.pnl_mismatches(records(b, [], [])) == [
        "SNDL: closed at the broker (-465.00), not in closed_trades"
    ]


def test_any_order_for_the_garbage_symbol_but_its_stop_was_traded_on_garbage() -> None:
    stop = order("pm-KO-l-0123456789-stop-g0", "KO", qty="100")
    sale = order("pm-KO-l-0123456789-tp1", "KO", qty="50", type_="market", stop=None)
    assert checks.garbage_traded(book([stop], {"KO": "100"})) == []
    assert len(checks.garbage_traded(book([stop, sale], {"KO": "100"}))) == 1


def test_the_hostile_quotes_are_two_forged_prices_and_six_malformed_entries() -> None:
    entries = garbage(D(62), T0)
    parsed: list[dict[str, Any] | None] = []
    for fields in entries:
        try:
            parsed.append(events.decode_event(fields).data)
        except InvalidEventError:
            parsed.append(None)
    assert len(entries) == 8
    assert [p["last"] for p in parsed[:2] if p] == ["93.00", "37.20"]  # valid, but never traded
    assert parsed[-1] is None  # data that is not JSON


def test_the_sampler_measures_how_long_a_held_position_has_no_stop() -> None:
    monitor = BookMonitor(None, {h.symbol: h.qty for h in BOOK}, 0.2)  # type: ignore[arg-type]
    guarded = book([order(f"pm-{KEY}-stop-g0")], {"NVDA": "40"})
    bare = book([order(f"pm-{KEY}-stop-g0", status="canceled")], {"NVDA": "40"})
    assert unprotected(guarded) == set() and unprotected(bare) == {"NVDA"}
    for t, b in ((0.0, guarded), (1.0, bare), (1.2, bare), (3.5, guarded), (4.0, bare)):
        monitor.observe(b, {"requests": 0}, t)
    assert monitor.seen.longest_unprotected["NVDA"] == 2.5
    flipped = book([], {"NVDA": "-5"})
    monitor.observe(flipped, {"requests": 0}, 5.0)
    assert monitor.seen.flipped == {"NVDA"}


def test_the_peak_is_the_most_requests_in_any_window() -> None:
    series = [(0.0, 0), (10.0, 50), (30.0, 120), (65.0, 150), (70.0, 300), (200.0, 310)]
    assert peak_in_window(series, 60.0) == 250  # 10 s -> 70 s
    assert peak_in_window([(0.0, 5)], 60.0) == 0


def test_kill_plans_keep_their_shares_and_never_start_with_a_restart_kill() -> None:
    for profile in (CI, FULL):
        for seed in range(20):
            plan = kill_plan(profile, random.Random(seed))
            hows = [how for _at, how in plan]
            assert len(plan) == profile.worker_kills
            assert hows.count("after_order") >= 1
            assert hows[0] != "during_start"
            assert [at for at, _ in plan] == sorted(at for at, _ in plan)
            assert all(0 < at < profile.market_seconds for at, _ in plan)


def test_the_script_visits_every_level_of_the_story() -> None:
    nvda, xom, sndl = BY_SYMBOL["NVDA"], BY_SYMBOL["XOM"], BY_SYMBOL["SNDL"]
    steps = [stepped(i / 100, 48) for i in range(101)]
    gains = [nvda.price_at(p) / nvda.entry - 1 for p in steps]
    assert sum(1 for g in gains if D("0.20") <= g < D("0.50")) > 30  # time for level 1
    assert max(gains) > D("0.50")
    assert xom.price_at(1.0) > xom.entry * D("1.08")  # past even the first stop of the short
    assert sndl.price_at(1.0) < sndl.entry * D("0.85")


def test_a_quantity_the_worker_counts_twice_is_a_disagreement_that_lasts() -> None:
    monitor = BookMonitor(None, {h.symbol: h.qty for h in BOOK}, 0.2)  # type: ignore[arg-type]
    held = {s: str(abs(h.qty)) for s, h in BY_SYMBOL.items()}
    b = book([], held)
    agree = {s: D(q) for s, q in held.items()}
    doubled = {**agree, "JPM": D(60)}
    monitor.observe(b, {"requests": 0}, 0.0, agree)
    monitor.observe(b, {"requests": 0}, 0.2, doubled)
    monitor.observe(b, {"requests": 0}, 0.4, None)  # Redis down: this sample says nothing
    monitor.observe(b, {"requests": 0}, 12.2, doubled)
    figure = checks.disagreement(monitor.seen, 10.0)
    assert not figure.ok and figure.value == 12.0
    assert figure.details == ["JPM: 12.0 s (the worker holds 60, the broker 30)"]
    assert checks.final_disagreements(b, doubled) == ["JPM: the worker holds 60, the broker 30"]
    assert checks.final_disagreements(b, agree) == []
