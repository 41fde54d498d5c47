"""`position-manager flatten`: without --confirm it lists what it would close and sends nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from app.cli import app
from position_manager.config import Settings
from simulator.embedded import ensure_simulator


def test_without_confirm_it_lists_the_positions_and_sends_nothing(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIMULATOR_PORT", str(settings.simulator_port))
    _url, handle = ensure_simulator(settings, redis_url)  # the machine's simulator, demo book
    assert handle is not None
    try:
        before = len(handle.simulator.engine.book.orders)
        result = CliRunner().invoke(app, ["flatten"])
        assert result.exit_code == 2, result.output
        assert "would close 6 positions" in result.output and "AAPL" in result.output
        assert "--confirm" in result.output
        assert len(handle.simulator.engine.book.orders) == before
    finally:
        handle.stop()
