"""One `position.stop_hit` per stop (order lifecycle issue, finding 6).

A stop crossed by a quote and then filled said so twice (the crossing quote, then the fill); a
stop crossed, bounced above and crossed again before it filled said so twice too.
"""

from __future__ import annotations

from position_manager import events
from tests.support.worker_harness import Harness, risk_params


def _long_aapl(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="4", cap_class="large")  # stop 8 % -> 92.00
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")


def test_a_stop_crossed_by_a_quote_and_then_filled_is_one_stop_hit(harness: Harness) -> None:
    _long_aapl(harness)
    harness.quote("AAPL", "91", broker_sees=False)  # the worker sees the crossing first ...
    harness.quote("AAPL", "91")  # ... then the broker elects the stop on the print
    harness.quote("AAPL", "91")  # and fills it from the next quote
    assert harness.position_qty("AAPL") == 0
    assert [c["reason"] for c in harness.events(events.POSITION_CLOSED)] == ["stop"]
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1


def test_a_stop_crossed_twice_before_it_fills_is_one_stop_hit(harness: Harness) -> None:
    _long_aapl(harness)
    harness.quote("AAPL", "91.5", broker_sees=False)
    harness.quote("AAPL", "93", broker_sees=False)
    harness.quote("AAPL", "91.4", broker_sees=False)
    assert harness.position_qty("AAPL") == 100  # the broker has not filled the stop yet
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1
    harness.quote("AAPL", "91.4")  # the broker elects it ...
    harness.quote("AAPL", "91.4")  # ... and fills it from the next quote
    assert harness.position_qty("AAPL") == 0
    assert len(harness.events(events.POSITION_STOP_HIT)) == 1
