"""Positions found at the broker are adopted once: a `position.opened` for history, not twice."""

from __future__ import annotations

from decimal import Decimal

from position_manager import events
from tests.support.worker_harness import Harness


def _opened(harness: Harness) -> list[dict[str, object]]:
    return harness.events(events.POSITION_OPENED)


def test_startup_adopts_unknown_positions_with_an_opened_event_once(harness: Harness) -> None:
    harness.sim.simulator.seed_positions(
        [("AAPL", Decimal(100), Decimal(100)), ("TSLA", Decimal(-50), Decimal(200))],
        marks={"AAPL": Decimal(100), "TSLA": Decimal(200)},
    )
    harness.start()
    opened = {d["symbol"]: d for d in _opened(harness)}
    assert opened["AAPL"]["quantity"] == "100" and opened["AAPL"]["side"] == "long"
    assert opened["TSLA"]["quantity"] == "-50" and opened["TSLA"]["side"] == "short"
    assert opened["TSLA"]["adopted"] is True and opened["TSLA"]["position_key"]
    assert harness.worker is not None
    harness.worker.close()
    harness.start()  # a restart knows them from Redis: nothing is opened again
    assert len(_opened(harness)) == 2
