"""The simulator's `last_equity` is Alpaca's: "Equity as of previous trading day at 16:00:00 ET"
(the Account schema, /work/shared/alpaca-openapi/trading-api.json); it was today's equity."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from simulator import start_simulator
from tests.support.simulator import make_broker


def test_last_equity_is_the_previous_dates_close_not_today() -> None:
    with start_simulator(
        lifecycle="instant", clock_start=datetime(2026, 11, 24, 20, 0, tzinfo=UTC), clock_speed=0
    ) as handle:
        sim = handle.simulator
        sim.seed_positions([("KO", Decimal(100), Decimal(60))], {"KO": Decimal(60)})
        broker = make_broker(handle)
        first = broker.get_account()
        sim.feed_quote("KO", Decimal("61.99"), Decimal("62.01"), Decimal(62))  # +200 at 15:00 ET
        close = broker.get_account()
        assert close.equity == first.equity + 200
        assert close.last_equity == first.equity  # the same date: yesterday's close stands
        sim.set_clock(datetime(2026, 11, 25, 15, 0, tzinfo=UTC), 0.0)  # the next morning
        sim.feed_quote("KO", Decimal("56.99"), Decimal("57.01"), Decimal(57))
        today = broker.get_account()
        assert today.equity == first.equity - 300
        assert today.last_equity == close.equity  # the 24th's last equity is the close
