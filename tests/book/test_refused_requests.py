"""A cancel or replace the broker refused (`order_cancel_rejected`, `order_replace_rejected`) is
not a lost stop: the order it names is still live (or filled). The worker asks the broker which
order is live and takes that as the book's stop, instead of placing a second one.

Before, both arrived as `order.failed`: on the live stop's id that read as "stop lost", the
next generation was placed beside a stop that was still working.
"""

from __future__ import annotations

from position_manager import events
from position_manager.events import publish
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params


def _long_aapl(harness: Harness) -> None:
    risk_params(harness.client, "AAPL", atr="4", cap_class="large")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")


def test_a_refused_cancel_keeps_the_live_stop_and_places_no_second_one(harness: Harness) -> None:
    _long_aapl(harness)
    assert harness.worker is not None
    (stop,) = harness.stops("AAPL")
    held = harness.worker.engine.held["AAPL"]
    # The book applied a cancel answer (204: the stop looks gone) ...
    held.position = held.position.evolve(stop_order_id=None, stop_quantity=None)
    # ... and then the broker refused the cancel: the stop is still working.
    publish(
        harness.client,
        events.ORDER_CANCEL_REJECTED,
        {
            "order_id": stop.id,
            "client_order_id": stop.client_order_id,
            "symbol": "AAPL",
            "side": "sell",
            "order_type": "stop",
            "qty": "100",
            "filled_qty": "0",
            "status": "new",
            "reason": "order is pending replacement",
        },
    )

    def adopted() -> bool:
        harness.settle()
        return harness.worker is not None and (
            harness.worker.engine.held["AAPL"].position.stop_order_id == stop.id
        )

    wait_until(adopted, 10.0, "the live stop was never taken back into the book")
    assert [s.id for s in harness.stops("AAPL")] == [stop.id]  # no second stop
    errors = harness.events(events.POSITION_ERROR)
    assert [e for e in errors if e["error_type"] == "stop_lost"] == []
