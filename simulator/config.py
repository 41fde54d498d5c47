"""The simulator's settings: the engine's account rules and the server around it.

A module of its own, imported by everything and importing nothing of the simulator but its fault
knobs, so the engine's parts, the server and the command line all read one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY
from simulator.faults import FaultConfig


@dataclass(frozen=True, slots=True)
class EngineConfig:
    starting_cash: Decimal = Decimal("100000")
    # Reg-T style margin: buying power = max(equity - initial margin, 0) x multiplier.
    margin_multiplier: Decimal = Decimal("2")
    partial_fill_qty: Decimal | None = None  # at most this much fills per quote (None: all)


@dataclass(slots=True)
class SimulatorConfig:
    api_key: str = SIMULATOR_API_KEY
    secret_key: str = SIMULATOR_SECRET_KEY
    rate_limit: int = 200  # requests per `rate_window_seconds` per key, then 429
    rate_window_seconds: int = 60
    max_bars_page: int = 10_000
    engine: EngineConfig = field(default_factory=EngineConfig)
    snapshot_path: Path | None = None
    snapshot_interval: float = 0.2  # seconds between snapshot writes while changes arrive
    redis_url: str | None = None  # publish order.* events here
    consume_quotes: bool = False  # read QUOTES_STREAM from redis_url with its own group
    quote_group: str = "simulator"
    clock_start: datetime | None = None  # None and speed 1: real time
    clock_speed: float = 1.0
    faults: FaultConfig | None = None  # None: from PM_SIM_* environment variables
