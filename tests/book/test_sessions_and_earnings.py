"""Session policy and pre-earnings reduction, through the running worker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from book.state import Changes
from position_manager import events
from position_manager.events import publish
from position_manager.market_calendar import NEW_YORK
from tests.support.simulator import REGULAR_AT
from tests.support.worker_harness import Harness, risk_params

# The broker's (simulated) New York date: the earnings window counts from it, not the host's.
SESSION_DATE = REGULAR_AT.astimezone(NEW_YORK).date()


def _session(harness: Harness, session: str) -> None:
    publish(harness.client, events.SESSION_CHANGED, {"session": session})
    harness.settle()


def _long(harness: Harness, symbol: str = "AAPL", **risk: object) -> None:
    risk_params(harness.client, symbol, **{"atr": "1", "cap_class": "large", **risk})
    harness.start()
    harness.approve(symbol, "buy", 100, "100")


def test_pre_market_monitors_only(harness: Harness) -> None:
    _long(harness)
    _session(harness, "PRE")
    harness.quote("AAPL", "125")  # +25%: no profit-taking, no trailing before the open
    assert harness.position_qty("AAPL") == 100
    assert [s.stop_price for s in harness.stops("AAPL")] == [Decimal("92.00")]
    pnl = harness.events(events.POSITION_PNL_UPDATED)
    assert pnl and pnl[-1]["extended_hours"] is True


def test_post_market_takes_profit_with_an_extended_hours_limit(harness: Harness) -> None:
    _long(harness)
    _session(harness, "POST")
    harness.quote("AAPL", "120")
    exits = [
        o
        for o in harness.sim.simulator.engine.book.orders.values()
        if o.symbol == "AAPL" and o.side == "sell" and o.type == "limit"
    ]
    assert len(exits) == 1
    assert exits[0].extended_hours and exits[0].limit_price == Decimal("119.40")
    assert [s.qty for s in harness.stops("AAPL")] == [50]  # shrunk first
    assert [s.stop_price for s in harness.stops("AAPL")] == [Decimal("92.00")]  # no trail


def test_closed_market_publishes_no_pnl_but_still_protects(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="1")
    harness.sim.simulator.seed_positions([("AAPL", Decimal(100), Decimal(100))])
    harness.start(session="CLOSED")
    assert [s.stop_price for s in harness.stops("AAPL")] == [Decimal("92.00")]
    harness.quote("AAPL", "130")
    assert harness.events(events.POSITION_PNL_UPDATED) == []
    assert harness.position_qty("AAPL") == 100


def test_pre_earnings_halves_once_per_report_date(harness: Harness) -> None:
    _long(harness)
    harness.quote("AAPL", "101")
    report = (SESSION_DATE + timedelta(days=3)).isoformat()
    for _ in range(2):
        publish(
            harness.client,
            events.COMMAND_REDUCE_FOR_EARNINGS,
            {"symbol": "AAPL", "report_date": report},
        )
        harness.settle()
        harness.quote("AAPL", "101")
    assert harness.position_qty("AAPL") == 50
    assert [s.qty for s in harness.stops("AAPL")] == [50]
    reductions = harness.events(events.POSITION_EARNINGS_REDUCTION)
    assert [(r["report_date"], r["shares_sold"]) for r in reductions] == [(report, "50")]
    assert harness.state("AAPL")["earnings_reduced_for"] == report


def test_daily_check_reduces_from_the_risk_parameters(harness: Harness) -> None:
    report = (SESSION_DATE + timedelta(days=5)).isoformat()
    _long(harness, next_report_date=report)
    assert harness.worker is not None
    changes = Changes()
    harness.worker.housekeeping.earnings_check(changes)
    harness.worker.store.commit(changes)
    harness.settle()
    assert harness.position_qty("AAPL") == 50
    harness.worker.housekeeping.earnings_check(changes)
    harness.settle()
    assert harness.position_qty("AAPL") == 50
