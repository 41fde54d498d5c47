"""The moving parts of a chaos run, each on its own thread so a slow restart never delays a
Redis kill or a fault phase: the market (quotes to the broker, then to the worker's stream), the
killer (kill -9 of the worker and its restart), the Redis killer and the broker's faults.

All of them time themselves on one clock: seconds since the market opened (`Timeline`).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from app.chaos.market import BOOK, BY_SYMBOL, GARBAGE_SYMBOL, garbage, quote, stepped
from app.chaos.processes import ChaosRedis, WorkerSupervisor
from app.chaos.profile import ChaosProfile
from app.chaos.sim_client import SimControl
from position_manager import events


class Timeline:
    """Seconds since the market opened; `wait_until` returns early (False) when stopped."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.stopping = threading.Event()

    def now(self) -> float:
        return time.monotonic() - self.started

    def wait_until(self, at: float) -> bool:
        while not self.stopping.is_set():
            left = at - self.now()
            if left <= 0:
                return True
            self.stopping.wait(min(left, 0.2))
        return False


@dataclass
class Tally:
    """What the threads did, for the report."""

    kills: list[tuple[float, str]] = field(default_factory=list)  # (when, how)
    kills_not_up: int = 0  # restarts that never logged `worker running` in time
    redis_outages: list[float] = field(default_factory=list)
    fault_phases: list[str] = field(default_factory=list)
    quotes_sent: int = 0
    quotes_lost: int = 0  # published while Redis was down (the market does not wait)
    garbage_sent: int = 0
    errors: list[str] = field(default_factory=list)


class MarketThread(threading.Thread):
    """Every `quote_interval`: the broker sees the round of quotes first (it fills what they
    cross), then they go on the worker's quote stream. Prices follow the script in steps (on
    every round during the profile's burst) until the market closes its story, then hold there
    until the run stops."""

    def __init__(
        self,
        control: SimControl,
        redis_url: str,
        profile: ChaosProfile,
        line: Timeline,
        tally: Tally,
    ) -> None:
        super().__init__(name="chaos-market", daemon=True)
        self.control = control
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1)
        self.profile = profile
        self.line = line
        self.tally = tally
        self.steps = max(1, round(profile.market_seconds / profile.step_seconds))
        self._garbage = sorted(profile.garbage_at)
        self.halt = threading.Event()

    def round_of_quotes(self) -> None:
        raw = self.line.now() / self.profile.market_seconds
        burst = self.profile.burst
        fast = burst is not None and burst[0] <= raw < burst[1]
        progress = min(raw, 1.0) if fast else stepped(raw, self.steps)
        ts = datetime.now(UTC)
        quotes = [quote(h.symbol, h.price_at(progress), ts) for h in BOOK]
        self.control.quotes(quotes)
        try:
            pipe = self.client.pipeline(transaction=False)
            for q in quotes:
                fields = events.encode_event(events.QUOTE_UPDATED, q)
                pipe.xadd(events.QUOTES_STREAM, fields, maxlen=events.QUOTES_MAXLEN)  # type: ignore[arg-type]
            if self._garbage and progress >= self._garbage[0]:
                entries = garbage(BY_SYMBOL[GARBAGE_SYMBOL].price_at(progress), ts)
                for entry in entries:
                    pipe.xadd(events.QUOTES_STREAM, entry)  # type: ignore[arg-type]
                pipe.execute()
                self._garbage.pop(0)
                self.tally.garbage_sent += len(entries)
            else:
                pipe.execute()
            self.tally.quotes_sent += len(quotes)
        except redis.RedisError:
            self.tally.quotes_lost += len(quotes)

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.round_of_quotes()
            except Exception as exc:  # the simulator busy: the next round tries again
                self.tally.errors.append(f"market: {type(exc).__name__}: {exc}")
            self.halt.wait(self.profile.quote_interval)
        self.client.close()


def kill_plan(profile: ChaosProfile, rng: random.Random) -> list[tuple[float, str]]:
    """(when, how) for each worker kill, spread over the market with jitter. How: `after_order`
    (just after an order request arrives at the broker), `during_start` (in the middle of the
    previous kill's restart) or `random`, in the profile's shares (rounded, at least one
    `after_order` kill), in a seeded random order; a `during_start` kill never comes first."""
    n = profile.worker_kills
    after = max(1, round(n * profile.after_order_share)) if n else 0
    during = min(n - after, round(n * profile.during_start_share))
    hows = ["after_order"] * after + ["during_start"] * during + ["random"] * (n - after - during)
    rng.shuffle(hows)
    if hows and hows[0] == "during_start":
        first = next((i for i, h in enumerate(hows) if h != "during_start"), 0)
        hows[0], hows[first] = hows[first], hows[0]
    span = profile.market_seconds * 0.88
    spacing = span / max(n, 1)
    return [
        (profile.market_seconds * 0.04 + spacing * (i + rng.uniform(0.0, 0.7)), how)
        for i, how in enumerate(hows)
    ]


class KillerThread(threading.Thread):
    def __init__(
        self,
        worker: WorkerSupervisor,
        control: SimControl,
        plan: list[tuple[float, str]],
        line: Timeline,
        tally: Tally,
        rng: random.Random,
    ) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self.worker, self.control, self.plan = worker, control, plan
        self.line, self.tally, self.rng = line, tally, rng

    def _after_next_order(self, timeout: float = 15.0) -> bool:
        """Return as soon as the broker counts a new order request (place, replace, cancel)."""
        base = SimControl.order_requests(self.control.stats())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.line.stopping.is_set():
            if SimControl.order_requests(self.control.stats()) > base:
                return True
            time.sleep(0.005)
        return False

    def run(self) -> None:
        for at, how in self.plan:
            if how == "during_start":
                # the previous restart is under way: hit its startup scan or what follows it
                time.sleep(self.rng.uniform(1.5, 4.0))
            else:
                if not self.line.wait_until(at):
                    return
                if not self.worker.wait_up(120):
                    self.tally.kills_not_up += 1
                if how == "after_order" and not self._after_next_order():
                    how = "random (no order came)"
            self.worker.kill9()
            self.tally.kills.append((self.line.now(), how))
            time.sleep(self.rng.uniform(0.0, 1.0))  # the process manager's restart delay
            self.worker.spawn()


class RedisKillerThread(threading.Thread):
    def __init__(
        self,
        server: ChaosRedis,
        at: list[float],
        line: Timeline,
        tally: Tally,
        rng: random.Random,
    ) -> None:
        super().__init__(name="chaos-redis-killer", daemon=True)
        self.server, self.at, self.line, self.tally, self.rng = server, at, line, tally, rng

    def run(self) -> None:
        for at in self.at:
            if not self.line.wait_until(at):
                return
            self.server.kill9()
            down = self.rng.uniform(0.5, 2.0)
            started = time.monotonic()
            time.sleep(down)
            self.server.start()
            self.tally.redis_outages.append(time.monotonic() - started)


class FaultThread(threading.Thread):
    def __init__(
        self, control: SimControl, profile: ChaosProfile, line: Timeline, tally: Tally
    ) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.control, self.profile, self.line, self.tally = control, profile, line, tally

    def run(self) -> None:
        length = self.profile.market_seconds
        for phase in sorted(self.profile.faults, key=lambda p: p.start):
            if not self.line.wait_until(phase.start * length):
                return
            self.control.faults(**phase.settings)
            self.tally.fault_phases.append(phase.name)
            self.line.wait_until(phase.end * length)
            self.control.faults()  # cleared, even when stopping
