"""`position-manager config`: the broker chosen, and where every value came from (default,
environment, .env file), secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from position_manager.config import ENV_FILE_VARIABLE, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def config() -> dict[str, tuple[str, str]]:
    """NAME -> (value, source), plus the two header lines under "#broker" and "#settings"."""
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    out: dict[str, tuple[str, str]] = {}
    for line in result.output.splitlines():
        if line.startswith("# broker: "):
            out["#broker"] = (line.removeprefix("# broker: "), "")
        elif line.startswith("# settings: "):
            out["#settings"] = (line.removeprefix("# settings: "), "")
        else:
            assignment, _, source = line.partition("  # ")
            name, _, value = assignment.partition("=")
            out[name] = (value, source)
    return out


def test_defaults_and_the_environment_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("profit_target_1", "0.25")  # names are case-insensitive
    shown = config()
    assert shown["PROFIT_TARGET_1"] == ("0.25", "environment")
    assert shown["ATR_PERIOD"] == ("14", "default")
    assert shown["#broker"][0].startswith("simulator (the embedded Alpaca-compatible")
    assert "no Alpaca keys, BROKER=auto" in shown["#broker"][0]
    assert shown["#settings"][0].startswith("1 from the environment, ")


def test_a_dotenv_file_is_read_and_the_environment_wins_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "settings.env"
    env_file.write_text("ATR_PERIOD=20\nPROFIT_TARGET_1=0.3\nALERT_URLS=json://127.0.0.1:9/tok\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(env_file))
    monkeypatch.setenv("PROFIT_TARGET_1", "0.25")
    shown = config()
    assert shown["ATR_PERIOD"] == ("20", ".env file")
    assert shown["PROFIT_TARGET_1"] == ("0.25", "environment")
    assert shown["ALERT_URLS"] == ("**********", ".env file")
    assert f".env file: {env_file}" in shown["#settings"][0]


def test_dot_env_in_the_current_directory_is_the_default_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    (tmp_path / ".env").write_text("WATCHLIST=aapl,msft\n")
    assert config()["WATCHLIST"] == ("AAPL,MSFT", ".env file")
    monkeypatch.setenv(ENV_FILE_VARIABLE, "")  # and none at all
    assert config()["WATCHLIST"] == ("", "default")


def test_alpaca_paper_and_live_are_named_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKCONFIGTESTKEY1")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "configTestSecret99")
    shown = config()
    assert shown["#broker"][0] == (
        "alpaca paper at https://paper-api.alpaca.markets "
        "(Alpaca keys are set, BROKER=auto, data feed iex)"
    )
    assert shown["ALPACA_SECRET_KEY"] == ("**********", "environment")
    monkeypatch.setenv("ALPACA_PAPER", "false")
    monkeypatch.setenv("ALPACA_ALLOW_LIVE", "true")
    assert config()["#broker"][0].startswith("alpaca LIVE (real money) at https://api.alpaca")
    result = CliRunner().invoke(app, ["config"])
    assert "PKCONFIGTESTKEY1" not in result.output and "configTestSecret99" not in result.output
