"""How hard a chaos run pushes: how long the market plays, how many kills, which broker faults.

Two presets: `FULL` (what `position-manager chaos` runs: 22 worker kills, two Redis kills, every
broker fault, a fast market that asks for more than the rate budget) and `CI` (a bounded profile
for the test suite: 3 kills, one Redis kill, each fault briefly). Times of fault phases and
Redis kills are fractions of the market's duration, so both presets tell the same story at
different speeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class FaultPhase:
    """One broker fault, on from `start` to `end` (fractions of the market's duration), set
    through the simulator's `/sim/faults` (the fields of `simulator.faults.FaultConfig`)."""

    name: str
    start: float
    end: float
    settings: dict[str, Any]


def broker_faults(scale: float, sure: int = 0) -> tuple[FaultPhase, ...]:
    """20 % 5xx, a 429 storm, 2 s of latency on every request, then dropped answers on order
    requests (held past the adapter's 10 s request timeout, so the answer is really lost and the
    order must be looked up by its client id). `scale` shortens the phases for short runs;
    `sure` makes the first that many requests of each error phase fail whatever the dice say, so
    a short run cannot pass through a phase untouched."""
    return (
        FaultPhase(
            "5xx on 20 % of requests",
            0.10,
            0.10 + 0.14 * scale,
            {"error_rate": 0.2, "fail_next": sure},
        ),
        FaultPhase(
            "429 storm",
            0.30,
            0.30 + 0.08 * scale,
            {"error_rate": 1.0, "error_status": 429, "fail_next": sure},
        ),
        FaultPhase("2 s latency", 0.45, 0.45 + 0.10 * scale, {"latency_ms": 2000}),
        FaultPhase(
            "dropped answers",
            0.62,
            0.62 + 0.10 * scale,
            {
                "drop_rate": 0.3,
                "drop_next": sure,
                "hang_seconds": 11,
                "path_contains": "/v2/orders",
            },
        ),
    )


@dataclass(frozen=True, slots=True)
class ChaosProfile:
    name: str
    market_seconds: float  # how long the scripted market plays
    step_seconds: float  # prices move this often (quotes repeat in between)
    quote_interval: float  # seconds between rounds of quotes
    worker_kills: int
    after_order_share: float  # share of kills timed just after an order request arrives
    during_start_share: float  # share of kills that hit the restart itself (startup scan)
    redis_kills: tuple[float, ...]  # when (fractions of the market) Redis is killed -9
    faults: tuple[FaultPhase, ...]
    garbage_at: tuple[float, ...]  # when the hostile messages are pushed
    # A fast market (start, end): prices move on every round of quotes, so trailing alone asks
    # for more than Alpaca's 200 requests a minute and the rate budget is what holds the line.
    burst: tuple[float, float] | None = None
    seed: int = 11
    settle_seconds: float = 60.0  # after the market: how long recovery may take
    unprotected_limit_seconds: float = 5.0  # the longest a held position may have no stop
    sample_interval: float = 0.2  # how often the broker's book is sampled
    rate_limit: int = 200  # the simulator's 429 budget per minute: Alpaca's
    reconcile_seconds: int = 15  # WORKER_RECONCILE_SECONDS: the timer catch-up runs in the run

    def with_changes(self, **changes: Any) -> ChaosProfile:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


FULL = ChaosProfile(
    name="full",
    market_seconds=150.0,
    step_seconds=2.0,
    quote_interval=0.25,
    worker_kills=22,
    after_order_share=0.4,
    during_start_share=0.15,
    redis_kills=(0.35, 0.78),
    faults=broker_faults(1.0),
    garbage_at=(0.2, 0.5, 0.85),
    burst=(0.12, 0.30),
)

CI = ChaosProfile(
    name="ci",
    market_seconds=24.0,
    step_seconds=0.5,
    quote_interval=0.2,
    worker_kills=3,
    after_order_share=0.34,
    during_start_share=0.0,
    redis_kills=(0.5,),
    faults=broker_faults(1.0, sure=2),
    garbage_at=(0.25, 0.7),
    settle_seconds=15.0,
)

PROFILES = {p.name: p for p in (FULL, CI)}
