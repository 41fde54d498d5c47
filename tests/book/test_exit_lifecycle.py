"""Exits have a life (order lifecycle issue, findings 1-4): a level or an earnings date is taken by
what fills, an exit that dies unfilled is re-armed with the stop given back its shares first, no
stop is placed while an exit for the whole position is working, a failed sale after a shrink
restores the stop, and a position under one share still takes profit and exits.

The worker harness runs the simulator's realistic lifecycle (no latency): each window is also
opened by hand, so the test does not depend on timing: the worker sees a quote the broker has
not (a resting extended-hours limit), or the simulator's clock moves past the session's end (DAY
orders expire), or a fault answers the sale.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from book.state import Changes
from position_manager import events
from position_manager.session import Session
from tests.support.worker_harness import Harness, risk_params

POST_AT = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)  # 16:30 New York
AFTER_POST = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)  # 20:30 New York: DAY orders expired
NEXT_OPEN = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 New York


def _session(harness: Harness, session: Session) -> None:
    assert harness.worker is not None
    harness.worker.housekeeping.set_session(session, Changes())
    harness.settle()


def _long_aapl(harness: Harness, qty: int | str = 100) -> None:
    risk_params(harness.client, "AAPL", atr="1", cap_class="large")  # stop 8 % -> 92.00
    harness.start()
    harness.approve("AAPL", "buy", qty, "100")  # type: ignore[arg-type]


def test_a_post_market_exit_that_expires_rearms_its_level_and_restores_the_stop(
    harness: Harness,
) -> None:
    """Finding 1: 100 shares in POST at +20 %: stop shrunk to 50, a DAY limit for 50, then
    `order.expired`. Before: level 1 stayed taken and the stop covered 50 into the next day."""
    _long_aapl(harness)
    harness.sim.simulator.set_clock(POST_AT)
    _session(harness, Session.POST)
    harness.quote("AAPL", "120", broker_sees=False)
    assert [s.qty for s in harness.stops("AAPL")] == [Decimal(50)]  # shrunk for the sale
    (limit,) = [o for o in harness.open_orders("AAPL") if o.kind == "limit"]
    assert limit.client_order_id.endswith("-tp1") and limit.qty == 50
    assert harness.state("AAPL")["profit_levels_taken"] == "1"  # decided, working

    harness.sim.simulator.set_clock(AFTER_POST)  # the DAY limit expires unfilled
    harness.settle()
    assert harness.broker.get_order(limit.id).status == "expired"
    assert harness.position_qty("AAPL") == 100
    assert harness.state("AAPL")["profit_levels_taken"] == ""  # re-armed
    assert [s.qty for s in harness.stops("AAPL")] == [Decimal(100)]  # the stop covers it all
    errors = harness.events(events.POSITION_ERROR)
    assert [e["error_type"] for e in errors] == ["exit_not_filled"]

    harness.sim.simulator.set_clock(NEXT_OPEN)
    _session(harness, Session.REGULAR)
    harness.quote("AAPL", "120")  # the level fires again, with a fresh client order id
    assert harness.position_qty("AAPL") == 50
    taking = harness.events(events.POSITION_PROFIT_TAKING)
    assert [t["shares_sold"] for t in taking] == ["50", "50"]
    assert [s.qty for s in harness.stops("AAPL")] == [Decimal(50)]


def test_no_new_stop_while_an_exit_for_the_whole_position_is_working(harness: Harness) -> None:
    """Finding 2: a full exit in flight (stop cancelled, sell accepted, fill not yet seen): the
    next quote placed a new full-size stop, one that would open a short once the sell filled."""
    _long_aapl(harness)
    harness.sim.simulator.set_clock(POST_AT)
    _session(harness, Session.POST)
    harness.quote(
        "AAPL", "150", broker_sees=False
    )  # +50 %: the rest, all of it, as a resting DAY limit
    assert harness.stops("AAPL") == []  # cancelled for the full exit
    (limit,) = harness.open_orders("AAPL")
    assert limit.qty == 100
    harness.quote("AAPL", "149", broker_sees=False)
    harness.quote("AAPL", "151", broker_sees=False)
    assert harness.stops("AAPL") == []  # nothing placed beside the working exit
    assert [o.id for o in harness.open_orders("AAPL")] == [limit.id]
    # Before: each quote tried a full-size stop, refused for the shares the exit holds.
    assert harness.events(events.POSITION_ERROR) == []
    harness.quote("AAPL", "150")  # the broker fills the exit
    assert harness.position_qty("AAPL") == 0
    assert harness.open_orders("AAPL") == []  # and no stop is left to open a short
    alerts = harness.events(events.ALERT_UNPROTECTED, stream=events.ALERTS_STREAM)
    assert alerts == []  # every share is held by the working exit


def test_a_failed_sale_after_the_shrink_gives_the_shares_back_to_the_stop(
    harness: Harness,
) -> None:
    """Finding 3: stop shrunk for a partial exit, then the sale failed: the stop covered 50 of 100
    shares until a reconciliation ran."""
    _long_aapl(harness)
    harness.quote("AAPL", "110")  # trail: stop 104.50
    # The sale is refused (a 4xx: not retried by the adapter) after its stop was shrunk.
    harness.sim.simulator.set_faults(fail_next=1, error_status=422, path_contains="POST /v2/orders")
    harness.quote("AAPL", "120")
    assert harness.position_qty("AAPL") == 100  # the sale failed
    assert [s.qty for s in harness.stops("AAPL")] == [Decimal(100)]  # restored at once
    errors = harness.events(events.POSITION_ERROR)
    assert [e["action"] for e in errors] == ["SubmitExit"]


def test_a_position_under_one_share_takes_profit_and_is_reported_unprotected(
    harness: Harness,
) -> None:
    """Finding 4: 0.5 shares never took profit or exited (profit-taking ran only with a stop, and
    a GTC stop cannot cover a fraction), and nothing said it had no stop."""
    risk_params(harness.client, "AAPL", atr="1", cap_class="large")
    harness.start()
    harness.sim.simulator.feed_quote("AAPL", Decimal(100), Decimal(100), Decimal(100))
    harness.broker.submit_order(_fractional_buy())
    harness.settle()
    assert harness.position_qty("AAPL") == Decimal("0.5")
    assert harness.stops("AAPL") == []
    assert harness.worker is not None
    harness.worker.housekeeping.tick(force=True)
    (alert,) = harness.events(events.ALERT_UNPROTECTED, stream=events.ALERTS_STREAM)
    assert "0.5" in alert["message"]
    harness.quote("AAPL", "150")  # +50 %: the whole half share goes, as a DAY market order
    assert harness.position_qty("AAPL") == 0
    (taking,) = harness.events(events.POSITION_PROFIT_TAKING)
    assert taking["shares_sold"] == "0.5"


def _fractional_buy():  # type: ignore[no-untyped-def]
    from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce

    return OrderRequest(
        "AAPL", OrderSide.BUY, Decimal("0.5"), OrderKind.MARKET, "entry-half", TimeInForce.DAY
    )


def test_a_full_exit_that_expires_puts_a_new_stop_on_the_whole_position(
    harness: Harness,
) -> None:
    """Found by the realistic stateful machine: a full exit cancels the stop (its client id is
    spent), the exit expires, and the stop placed again re-used the spent id; the broker returned
    the cancelled order, and the retry meant to take the next generation was forgotten."""
    _long_aapl(harness)
    harness.sim.simulator.set_clock(POST_AT)
    _session(harness, Session.POST)
    harness.quote("AAPL", "150", broker_sees=False)  # +50 %: the stop is cancelled, all for sale
    assert harness.stops("AAPL") == []
    harness.sim.simulator.set_clock(AFTER_POST)  # the DAY limit expires unfilled
    harness.settle()
    assert harness.position_qty("AAPL") == 100
    (stop,) = harness.stops("AAPL")
    assert stop.qty == 100 and stop.client_order_id.endswith("-stop-g1")
