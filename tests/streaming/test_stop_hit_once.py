"""One `position.stop_hit` per stop (order lifecycle issue, finding 6).

A stop crossed by a quote and then filled said so twice (the crossing quote, then the fill); a
stop crossed, bounced above and crossed again before it filled said so twice too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from position_manager import events
from position_manager.events import publish
from tests.streaming.conftest import Harness, risk_params


def _long_aapl(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="4", cap_class="large")  # stop 8 % -> 92.00
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")


def _worker_sees(harness: Harness, price: str) -> None:
    """A quote the worker reads before the broker has acted on it (a real broker fills later)."""
    p = Decimal(price)
    publish(
        harness.client,
        events.QUOTE_UPDATED,
        {
            "symbol": "AAPL",
            "bid": str(p - Decimal("0.01")),
            "ask": str(p + Decimal("0.01")),
            "last": price,
            "timestamp": datetime.now(UTC).isoformat(),
        },
    )
    harness.settle()


def test_a_stop_crossed_by_a_quote_and_then_filled_is_one_stop_hit(harness: Harness) -> None:
    _long_aapl(harness)
    _worker_sees(harness, "91")  # the worker sees the crossing first ...
    harness.quote("AAPL", "91")  # ... then the broker fills the stop
    assert harness.position_qty("AAPL") == 0
    assert [c["reason"] for c in harness.events(events.POSITION_CLOSED)] == ["stop"]
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1


def test_a_stop_crossed_twice_before_it_fills_is_one_stop_hit(harness: Harness) -> None:
    _long_aapl(harness)
    _worker_sees(harness, "91.5")
    _worker_sees(harness, "93")
    _worker_sees(harness, "91.4")
    assert harness.position_qty("AAPL") == 100  # the broker has not filled the stop yet
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1
    harness.quote("AAPL", "91.4")
    assert harness.position_qty("AAPL") == 0
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1
