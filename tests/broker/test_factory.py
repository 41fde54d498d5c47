"""Building the adapter from settings: simulator by default, Alpaca with keys."""

from __future__ import annotations

import pytest

from broker.factory import build_broker
from position_manager.config import Settings, load_settings
from position_manager.errors import ConfigError
from simulator import SimulatorHandle


def test_without_keys_the_broker_is_the_simulator(settings: Settings, sim: SimulatorHandle) -> None:
    broker = build_broker(settings, sim.url)
    assert broker.is_connected()
    assert broker.get_account().status == "ACTIVE"
    assert broker.rate_limiter.limit == settings.alpaca_rate_limit_per_minute
    assert build_broker(settings, sim.url).rate_limiter is broker.rate_limiter  # one budget


def test_the_simulator_needs_its_url(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="start_simulator"):
        build_broker(settings)


def test_with_keys_the_broker_is_alpaca_and_keys_stay_secret(
    settings: Settings, sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    alpaca = load_settings(
        alpaca_api_key="AKFAKEKEY", alpaca_secret_key="very-secret", data_dir=settings.data_dir
    )
    broker = build_broker(alpaca, sim.url)  # real-Alpaca path, pointed at the simulator
    assert not broker.is_connected()  # the simulator refuses keys that are not its own (401)
    assert "very-secret" not in caplog.text and "AKFAKEKEY" not in caplog.text
