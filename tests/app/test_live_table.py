"""The live table's pure parts: timeline lines and the stop's basis."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.live_table import describe_event, protection, stop_basis
from position_manager import events
from position_manager.cap_class import CapClass
from rules.model import Position
from rules.params import DEFAULT_PARAMS

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def event(name: str, **data: object) -> events.Event:
    return events.Event(event=name, id="e1", ts=NOW, data=data)


def position(**changes: object) -> Position:
    base = Position(
        symbol="NVDA",
        quantity=Decimal(40),
        entry_price=Decimal("118.50"),
        original_quantity=Decimal(40),
        position_key="k",
        cap_class=CapClass.LARGE,
    )
    return base.evolve(**changes)


def test_a_profit_exit_reads_as_the_move_and_the_sale() -> None:
    line = describe_event(
        event(
            events.POSITION_PROFIT_TAKING,
            symbol="NVDA",
            shares_sold="20",
            trigger="profit_target_1",
            current_price="143.39",
        ),
        {"NVDA": Decimal("118.50")},
    )
    assert line == "NVDA +21 % -> sell 20 (profit_target_1) @ 143.39"


def test_fills_trails_and_sessions_have_lines_and_pnl_ticks_do_not() -> None:
    fill = event(events.ORDER_FILLED, symbol="NVDA", side="sell", fill_qty="20", price="143.4")
    assert describe_event(fill, {}) == "NVDA sold 20 @ 143.4"
    trail = event(events.POSITION_TRAILING_STOP_UPDATED, symbol="AAPL", old_stop="170.20",
                  new_stop="181.00")  # fmt: skip
    assert describe_event(trail, {}) == "AAPL stop trailed 170.2 -> 181"
    assert describe_event(event(events.SESSION_CHANGED, session="POST"), {}) == "session -> POST"
    assert describe_event(event(events.POSITION_PNL_UPDATED, symbol="AAPL"), {}) is None


def test_the_basis_is_the_states_own_when_it_has_one() -> None:
    params = DEFAULT_PARAMS
    pos = position(stop_price=Decimal("105.02"), stop_order_id="s1")
    assert stop_basis(pos, {"basis": "fallback"}, Decimal(4), False, params) == "fallback"
    assert stop_basis(pos, {}, Decimal(4), False, params) == "atr"
    at_fallback = pos.evolve(stop_price=Decimal("104.28"))  # 12 % below entry, large cap
    assert stop_basis(at_fallback, {}, None, False, params) == "fallback"
    assert stop_basis(pos, {}, Decimal(4), True, params) == "trailed"
    tighter = pos.evolve(stop_price=Decimal("130"))
    assert stop_basis(tighter, {}, Decimal(4), False, params) == "trailed"


def test_protection_names_a_missing_or_partial_stop() -> None:
    assert protection(position()) == "UNPROTECTED"
    full = position(stop_order_id="s1", stop_quantity=Decimal(40))
    assert protection(full) == "protected"
    assert protection(full.evolve(stop_quantity=Decimal(20))) == "partial (20 of 40)"


def test_stale_symbols_only_in_the_regular_session_and_only_past_the_threshold() -> None:
    from datetime import timedelta

    from book.health import stale_symbols
    from position_manager.session import Session

    since = NOW - timedelta(seconds=400)
    seen = {"AAPL": NOW - timedelta(seconds=10)}
    held = ["AAPL", "MSFT"]
    assert stale_symbols(held, seen, since, NOW, Session.REGULAR, 300) == ["MSFT"]
    assert stale_symbols(held, seen, since, NOW, Session.POST, 300) == []
    # Watching began (a start, an open) a minute ago: nothing is stale yet.
    assert stale_symbols(held, seen, NOW - timedelta(seconds=60), NOW, Session.REGULAR, 300) == []
