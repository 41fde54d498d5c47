"""The issue's scenarios, end to end: quotes through Redis, orders at the simulator."""

from __future__ import annotations

from decimal import Decimal

from position_manager import events
from tests.streaming.conftest import Harness, risk_params


def test_atr_stop_is_placed_when_the_entry_fills(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="4", cap_class="large")  # 1.5 x 4 / 100 = 6% -> 8%
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    assert harness.position_qty("AAPL") == 100
    stops = harness.stops("AAPL")
    assert len(stops) == 1
    assert stops[0].stop_price == Decimal("92.00")
    assert stops[0].qty == 100 and stops[0].side == "sell"
    opened = harness.events(events.POSITION_OPENED)
    assert opened[0]["symbol"] == "AAPL" and opened[0]["stop_price"] == "92.00"
    stop_set = harness.events(events.POSITION_STOP_SET)
    assert stop_set[0]["stop_order_id"] == stops[0].id
    assert harness.state("AAPL")["stop_order_id"] == stops[0].id
