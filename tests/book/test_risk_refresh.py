"""ATR_CACHE_TTL: risk parameters are reused that long, then the pipeline's new ones are read."""

from __future__ import annotations

from decimal import Decimal

from tests.support.worker_harness import Harness, risk_params


def test_risk_parameters_are_reused_for_the_ttl_then_reread(harness: Harness) -> None:
    harness.sim.simulator.seed_positions([("AAPL", Decimal(10), Decimal(100))])
    risk_params(harness.client, "AAPL", atr="1")
    worker = harness.start()
    assert worker.housekeeping.risk_refresh_seconds == harness.settings.atr_cache_ttl == 3600
    assert worker.engine.risk_for("AAPL").atr == Decimal(1)
    risk_params(harness.client, "AAPL", atr="3")  # the pipeline publishes a new ATR
    worker.housekeeping.tick(force=True)
    assert worker.engine.risk_for("AAPL").atr == Decimal(1)  # still within the TTL
    worker.housekeeping._last_risk -= 3600  # the TTL has passed
    worker.housekeeping.tick(force=True)
    assert worker.engine.risk_for("AAPL").atr == Decimal(3)
