"""Injectable faults for reliability tests: 5xx errors, added latency, dropped responses.

Deterministic knobs (`fail_next`, `drop_next`) make tests exact; rates (seeded) make demos noisy.
A *dropped* response is the nasty case for order submission: the request is processed (the order
exists) but the answer never arrives in time, so the client must look the order up by client id.
Environment: PM_SIM_ERROR_RATE, PM_SIM_LATENCY_MS, PM_SIM_DROP_RATE, PM_SIM_FAULT_SEED.
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class FaultAction(StrEnum):
    NONE = "none"
    ERROR = "error"  # answer 5xx without processing
    DROP = "drop"  # process, then hold the answer for `hang_seconds`


@dataclass(slots=True)
class FaultConfig:
    error_rate: float = 0.0
    error_status: int = 503
    fail_next: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    hang_seconds: float = 5.0
    latency_ms: float = 0.0
    path_contains: str | None = None  # only requests whose "METHOD /path" contains this
    seed: int = 0

    @classmethod
    def from_env(cls) -> FaultConfig:
        return cls(
            error_rate=float(os.environ.get("PM_SIM_ERROR_RATE", 0)),
            latency_ms=float(os.environ.get("PM_SIM_LATENCY_MS", 0)),
            drop_rate=float(os.environ.get("PM_SIM_DROP_RATE", 0)),
            seed=int(os.environ.get("PM_SIM_FAULT_SEED", 0)),
        )


class Faults:
    """Thread-safe fault decisions, changed at runtime by `/sim/faults` or `configure()`."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._rng = random.Random(self._config.seed)

    def configure(self, **changes: Any) -> FaultConfig:
        names = {f.name for f in fields(FaultConfig)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for key, value in changes.items():
                setattr(self._config, key, value)
            if "seed" in changes:
                self._rng = random.Random(self._config.seed)
            return FaultConfig(**asdict(self._config))

    def clear(self) -> None:
        with self._lock:
            self._config = FaultConfig()
            self._rng = random.Random(0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._config)

    @property
    def latency_seconds(self) -> float:
        return self._config.latency_ms / 1000

    @property
    def hang_seconds(self) -> float:
        return self._config.hang_seconds

    @property
    def error_status(self) -> int:
        return self._config.error_status

    def decide(self, route: str) -> FaultAction:
        """What to do with the request `route` ("POST /v2/orders")."""
        with self._lock:
            cfg = self._config
            if cfg.path_contains and cfg.path_contains not in route:
                return FaultAction.NONE
            if cfg.fail_next > 0:
                cfg.fail_next -= 1
                return FaultAction.ERROR
            if cfg.drop_next > 0:
                cfg.drop_next -= 1
                return FaultAction.DROP
            if cfg.error_rate and self._rng.random() < cfg.error_rate:
                return FaultAction.ERROR
            if cfg.drop_rate and self._rng.random() < cfg.drop_rate:
                return FaultAction.DROP
            return FaultAction.NONE
