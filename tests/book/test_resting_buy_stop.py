"""A short's buy stop triggered by a gap and resting above its collar is escalated: the worker
cancels it and covers with a marketable order, with `alert.stop_not_filled` (alpaca-notes: buy
stops become stop-limits, 4 % / 2.5 % collar, and can trigger and rest unfilled). On the
realistic simulator with a running clock, through the real worker, Redis and adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis

from position_manager import events
from position_manager.config import Settings
from simulator import SimulatorHandle, start_simulator
from simulator.config import EngineConfig, SimulatorConfig
from tests.support.simulator import REGULAR_AT
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params


@pytest.fixture
def realistic_harness(
    settings: Settings, redis_client: redis.Redis, redis_url: str
) -> Iterator[Harness]:
    handle: SimulatorHandle = start_simulator(
        SimulatorConfig(engine=EngineConfig(lifecycle="realistic")),
        redis_url=redis_url,
        clock_start=REGULAR_AT,
        clock_speed=1.0,
        rate_limit=100_000,
    )
    h = Harness(settings, handle, redis_client, redis_url)
    yield h
    h.close()
    handle.stop()


def test_a_buy_stop_resting_above_its_collar_is_covered_with_a_marketable_order(
    realistic_harness: Harness,
) -> None:
    h = realistic_harness
    sim = h.sim.simulator
    sim.seed_positions([("XOM", Decimal(-100), Decimal(100))], marks={"XOM": Decimal(100)})
    sim.feed_quote("XOM", Decimal("99.99"), Decimal("100.01"), Decimal(100))
    risk_params(h.client, "XOM", atr="1", cap_class="large")  # 8 %: a buy stop at 108.00
    h.start()

    def stop_working() -> bool:
        h.quote("XOM", "100")
        return [s.status for s in h.stops("XOM")] == ["new"]

    wait_until(stop_working, 10.0, "the short's stop never went live")
    (stop,) = h.stops("XOM")
    assert stop.stop_price == Decimal("108.00")

    h.quote("XOM", "112")  # a gap through 108.00 and its 110.70 collar: triggers, rests
    assert h.position_qty("XOM") == -100
    assert len(h.events(events.POSITION_STOP_HIT)) == 1

    def covered() -> bool:
        h.quote("XOM", "112")
        return h.position_qty("XOM") == 0

    wait_until(covered, 15.0, "the resting buy stop was never escalated and covered")
    alerts = h.events(events.ALERT_STOP_NOT_FILLED, stream=events.ALERTS_STREAM)
    assert len(alerts) == 1 and alerts[0]["symbol"] == "XOM"
    assert h.broker.get_order(stop.id).status == "canceled"
    assert h.open_orders("XOM") == []
    assert len(h.events(events.POSITION_STOP_HIT)) == 1
