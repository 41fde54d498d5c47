"""Fixtures for the pipeline tests: a local Alpha Vantage stand-in and the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.resources import embedded_resources
from position_manager.config import Settings
from tests.pipelines.av_standin import AlphaVantageStandIn, serve_alpha_vantage


@pytest.fixture
def alpha_vantage() -> Iterator[AlphaVantageStandIn]:
    with serve_alpha_vantage() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def simulator() -> Iterator[Any]:
    """One local Alpaca simulator per module, with the demo book open (SAMPLE_BOOK)."""
    from simulator import start_simulator

    handle = start_simulator()
    handle.simulator.seed_positions()
    yield handle
    handle.stop()


@pytest.fixture
def pipeline_env(settings: Settings, simulator: Any) -> PipelineEnv:
    """Embedded resources on the test's Redis, temp data dir and the module's simulator."""
    return PipelineEnv(settings, simulator.url)


class PipelineEnv:
    """Builds resources for a test, with settings overrides applied consistently."""

    def __init__(self, settings: Settings, broker_url: str) -> None:
        self.settings = settings
        self.broker_url = broker_url
        self.overrides: dict[str, str] = {
            "data_dir": str(settings.data_dir),
            "redis_url": settings.redis_url.get_secret_value() if settings.redis_url else "",
            "watchlist": "KO,ZZZZ",
        }

    def resources(self, **overrides: str) -> dict[str, Any]:
        return embedded_resources(
            self.settings,
            broker_url=self.broker_url,
            overrides={**self.overrides, **overrides},
        )
