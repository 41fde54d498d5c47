"""Protection outside regular hours (opt-in): Alpaca's stops do not trigger in PRE or POST, so a
position can fall through its stop after the close with nothing resting. With
EXTENDED_HOURS_PROTECTION the worker exits on the breach with an extended-hours DAY limit at a
marketable price, the stop cancelled first; without it the stop waits for the open."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from position_manager import events
from tests.support.worker_harness import Harness, risk_params

# The broker's clock in each session of Tuesday 24 November 2026 (New York is UTC-5).
CLOCK = {
    "PRE": datetime(2026, 11, 24, 13, 0, tzinfo=UTC),  # 08:00
    "POST": datetime(2026, 11, 24, 21, 30, tzinfo=UTC),  # 16:30
}


def _ko(harness: Harness, session: str, *, opted_in: bool) -> None:
    """100 KO at 60 with its stop at 55.20 (large cap, 8 % floor), the broker's clock in
    `session` (its stops do not trigger there; extended-hours limits fill)."""
    harness.sim.simulator.set_clock(CLOCK[session], 0.0)
    update = {"extended_hours_protection": opted_in}
    harness.settings = harness.settings.model_copy(update=update)
    harness.sim.simulator.seed_positions([("KO", Decimal(100), Decimal(60))], {"KO": Decimal(60)})
    risk_params(harness.client, "KO", atr="1")
    harness.start(session=session)
    harness.settle()
    assert [s.stop_price for s in harness.stops("KO")] == [Decimal("55.20")]


@pytest.mark.parametrize("session", ["POST", "PRE"])
def test_a_breach_outside_regular_hours_exits_with_a_marketable_extended_limit(
    harness: Harness, session: str
) -> None:
    _ko(harness, session, opted_in=True)
    harness.quote("KO", "54")  # through the stop: the broker would do nothing until the open
    sells = [
        o for o in harness.sim.simulator.engine.book.orders.values()
        if o.symbol == "KO" and o.type == "limit"
    ]  # fmt: skip
    assert [(o.side, o.qty, o.limit_price, o.extended_hours, o.time_in_force) for o in sells] == [
        ("sell", Decimal(100), Decimal("53.73"), True, "day")  # 0.5 % through 54, to the cent
    ]
    assert harness.stops("KO") == []  # cancelled first: it held the shares
    harness.quote("KO", "53.90")  # the limit fills in the extended session
    assert harness.position_qty("KO") == 0
    (hit,) = harness.events(events.POSITION_STOP_HIT)  # the crossing said it; the exit is it
    assert Decimal(hit["stop_price"]) == Decimal("55.20")
    (closed,) = harness.events(events.POSITION_CLOSED)
    assert Decimal(closed["exit_price"]) >= Decimal("53.73")


def test_without_the_opt_in_the_stop_waits_for_the_open(harness: Harness) -> None:
    _ko(harness, "POST", opted_in=False)
    harness.quote("KO", "54")
    harness.quote("KO", "53.90")
    assert harness.position_qty("KO") == 100
    assert [s.stop_price for s in harness.stops("KO")] == [Decimal("55.20")]


@pytest.mark.parametrize("session", ["POST", "PRE"])
def test_a_limit_the_price_ran_away_from_is_cancelled_and_sent_again_lower(
    harness: Harness, session: str
) -> None:
    _ko(harness, session, opted_in=True)
    # The market is already at 53 when the worker reads 55 (a slower feed): its limit at 54.72
    # (0.5 % through 55) rests above the bid.
    harness.sim.simulator.feed_quote("KO", Decimal("52.99"), Decimal("53.01"), Decimal(53))
    harness.quote("KO", "55", broker_sees=False)
    for _ in range(3):  # the worker catches up with 53: 54.72 will not fill
        harness.quote("KO", "53")
    sells = [
        o for o in harness.sim.simulator.engine.book.orders.values()
        if o.symbol == "KO" and o.type == "limit"
    ]  # fmt: skip
    assert [(o.limit_price, o.status) for o in sells] == [
        (Decimal("54.72"), "canceled"),  # re-priced: cancelled ...
        (Decimal("52.73"), "filled"),  # ... and sent again 0.5 % through 53, and filled
    ]
    assert sells[0].client_order_id != sells[1].client_order_id  # the next generation
    assert harness.position_qty("KO") == 0
    assert harness.state("KO") == {}  # closed: nothing left to protect
