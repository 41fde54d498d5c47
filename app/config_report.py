"""What `position-manager config` prints: the broker chosen, then every setting with its
effective value (secrets masked) and where that value came from."""

from __future__ import annotations

from collections import Counter

from position_manager.config import (
    BrokerKind,
    Settings,
    SettingSource,
    env_file_path,
    setting_sources,
)

ALPACA_PAPER_URL = "https://paper-api.alpaca.markets"
ALPACA_LIVE_URL = "https://api.alpaca.markets"


def broker_line(settings: Settings) -> str:
    """Which broker the worker and the Dagster jobs talk to, and why."""
    if settings.broker_kind is BrokerKind.SIMULATOR:
        why = (
            "BROKER=simulator" if settings.broker == "simulator" else "no Alpaca keys, BROKER=auto"
        )
        return (
            "broker: simulator (the embedded Alpaca-compatible paper broker on "
            f"127.0.0.1:{settings.simulator_port}; {why})"
        )
    why = "BROKER=alpaca" if settings.broker == "alpaca" else "Alpaca keys are set, BROKER=auto"
    if settings.alpaca_paper:
        mode, url = "alpaca paper", settings.alpaca_base_url or ALPACA_PAPER_URL
    else:
        mode, url = "alpaca LIVE (real money)", settings.alpaca_base_url or ALPACA_LIVE_URL
    return f"broker: {mode} at {url} ({why}, data feed {settings.alpaca_data_feed})"


def config_lines(settings: Settings) -> list[str]:
    """`# broker: ...`, `# sources: ...`, then `NAME=value  # source` per setting."""
    sources = setting_sources()
    counts = Counter(sources.values())
    env_file = env_file_path()
    where = {
        SettingSource.ENVIRONMENT: "from the environment",
        SettingSource.ENV_FILE: f"from {env_file}" if env_file else "from a .env file",
        SettingSource.DEFAULT: "defaults",
    }
    summary = ", ".join(f"{counts[s]} {label}" for s, label in where.items() if counts[s])
    file_note = (
        "no .env file read (PM_ENV_FILE is empty)"
        if env_file is None
        else f".env file: {env_file.resolve()}" + ("" if env_file.is_file() else " (not there)")
    )
    lines = [f"# {broker_line(settings)}", f"# settings: {summary}; {file_note}"]
    for name, value in settings.model_dump().items():
        lines.append(f"{name.upper()}={_shown(value)}  # {sources[name].value}")
    return lines


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
