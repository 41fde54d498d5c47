"""A broker outage opens the circuit breaker, and the worker says so on the alerts stream."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from broker.errors import BrokerUnavailableError
from position_manager import events
from tests.support.worker_harness import Harness


def test_an_open_breaker_raises_alert_circuit_open_once(harness: Harness) -> None:
    harness.sim.simulator.seed_positions([("AAPL", Decimal(10), Decimal(100))])
    worker = harness.start()
    assert harness.events(stream=events.ALERTS_STREAM, name=events.ALERT_CIRCUIT_OPEN) == []
    harness.sim.simulator.set_faults(error_rate=1.0, error_status=503)
    for _ in range(5):  # five failed operations open the breaker
        with contextlib.suppress(BrokerUnavailableError):
            worker.broker.get_account()
    assert worker.broker.breaker_state == "open"  # type: ignore[attr-defined]
    worker.housekeeping.tick(force=True)
    worker.housekeeping.tick(force=True)  # throttled: still one alert
    alerts = harness.events(stream=events.ALERTS_STREAM, name=events.ALERT_CIRCUIT_OPEN)
    assert len(alerts) == 1 and "circuit breaker is open" in alerts[0]["message"]
