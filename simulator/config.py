"""The simulator's settings: the engine's account rules and the server around it.

A module of its own, imported by everything and importing nothing of the simulator but its fault
knobs, so the engine's parts, the server and the command line all read one definition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal, cast

from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY
from simulator.faults import FaultConfig

LifecycleMode = Literal["instant", "realistic"]
LIFECYCLES: tuple[LifecycleMode, ...] = ("instant", "realistic")


def lifecycle_from_env(default: LifecycleMode = "realistic") -> LifecycleMode:
    """`PM_SIM_LIFECYCLE` (instant | realistic), read like the fault knobs' `PM_SIM_*`;
    `default` when it is unset or empty."""
    value = os.environ.get("PM_SIM_LIFECYCLE", "").strip().lower() or default
    if value not in LIFECYCLES:
        raise ValueError(f"PM_SIM_LIFECYCLE must be one of {', '.join(LIFECYCLES)}: {value!r}")
    return cast(LifecycleMode, value)


def control_from_env() -> bool:
    """`PM_SIM_CONTROL` (1/true/yes/on) turns the `/sim/*` control endpoints on; anything else,
    or unset, leaves them off."""
    return os.environ.get("PM_SIM_CONTROL", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The engine's account rules and its order lifecycle.

    `lifecycle`:
    - "instant": for unit tests only; not how Alpaca behaves. A market order is `filled` in its
      submit answer, a cancel is `canceled` and a replace `replaced` in theirs.
    - "realistic": Alpaca's asynchronous lifecycle (see alpaca-notes "The order lifecycle is
      asynchronous"): submit answers `accepted`/`new`, fills arrive later as updates, cancels
      and replaces pass `pending_cancel`/`pending_replace`, buy stops carry a limit collar,
      stops elect on trade prints, GTC orders expire, and more requests are rejected.
      Latencies are measured on the simulator's clock, so a frozen clock plus `advance_clock`
      (or `Engine.process_pending`) drives it deterministically.
    """

    starting_cash: Decimal = Decimal("100000")
    # Reg-T style margin: buying power = max(equity - initial margin, 0) x multiplier.
    margin_multiplier: Decimal = Decimal("2")
    partial_fill_qty: Decimal | None = None  # at most this much fills per quote (None: all)
    lifecycle: LifecycleMode = "realistic"
    # --- realistic mode only ---
    accept_latency_s: float = 0.05  # submit -> routed; cancel / replace request -> landed
    fill_latency_s: float = 0.05  # can fill (routed and crossed, or elected) -> filled
    slippage_bps: Decimal = Decimal(0)  # adverse, on fills of market and elected stop orders
    gtc_expiry_days: int = 90  # GTC orders' expires_at (Alpaca's aged-order policy)
    tradable_symbols: frozenset[str] | None = None  # None: every well-formed symbol exists
    not_tradable: frozenset[str] = frozenset()  # known assets that cannot be traded
    not_shortable: frozenset[str] = frozenset()  # short sales refused (also in instant mode)

    @property
    def realistic(self) -> bool:
        return self.lifecycle == "realistic"


@dataclass(slots=True)
class SimulatorConfig:
    api_key: str = SIMULATOR_API_KEY
    secret_key: str = SIMULATOR_SECRET_KEY
    rate_limit: int = 200  # requests per `rate_window_seconds` per key, then 429
    rate_window_seconds: int = 60
    max_bars_page: int = 10_000
    # Symbols beyond the sample universe that have daily bars, each a seeded walk
    # (`simulator.synthetic_bars`): a benchmark's universe. Every other rule of the endpoint holds.
    bar_universe: frozenset[str] = frozenset()
    engine: EngineConfig = field(default_factory=EngineConfig)
    snapshot_path: Path | None = None
    snapshot_interval: float = 0.2  # seconds between snapshot writes while changes arrive
    redis_url: str | None = None  # publish order.* events here
    consume_quotes: bool = False  # read QUOTES_STREAM from redis_url with its own group
    quote_group: str = "simulator"
    clock_start: datetime | None = None  # None and speed 1: real time
    clock_speed: float = 1.0
    faults: FaultConfig | None = None  # None: from PM_SIM_* environment variables
    # None: PM_SIM_LIFECYCLE if set, else engine.lifecycle (realistic by default; "instant" is
    # for unit tests only)
    lifecycle: LifecycleMode | None = None
    # The unauthenticated `/sim/*` routes (quotes, clock, faults, seed, stats, reset) let anyone
    # who can reach the port move prices and the clock: off unless asked for (True, or None and
    # PM_SIM_CONTROL=1). The in-process `Simulator` API is always there.
    control_endpoints: bool | None = False

    def controls_on(self) -> bool:
        """Whether `/sim/*` is served (else those paths answer 404)."""
        return control_from_env() if self.control_endpoints is None else self.control_endpoints

    def engine_config(self) -> EngineConfig:
        """`engine` with the lifecycle chosen by `lifecycle`, the environment or `engine`."""
        chosen = self.lifecycle or lifecycle_from_env(self.engine.lifecycle)
        return (
            self.engine
            if chosen == self.engine.lifecycle
            else replace(self.engine, lifecycle=chosen)
        )
