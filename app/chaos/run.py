"""One chaos run, start to finish.

1. A Redis on its append-only file (fsync always), the simulator as its own process (realistic
   lifecycle, Alpaca's 200 requests/minute, a clock running from a regular-session morning), the
   chaos book opened in it and the risk parameters published as the pipeline would.
2. The worker as its own process (`python -m app.worker`, pointed at both), started once.
3. The scripted market plays while the worker is killed -9 and restarted at random moments
   (some just after an order request reaches the broker, some in the middle of a restart), Redis
   is killed -9 and restarted on its file, and the broker answers 5xx, 429s, slowly and not at
   all in turn; hostile quotes are pushed at the garbage symbol. The broker's book is sampled
   all along.
4. Recovery: faults off, the worker up, until every position is covered (bounded), then the
   worker is stopped with SIGTERM.
5. The history ingest (the Dagster job the history sensor launches) writes DuckDB.
6. The invariants are checked against the broker, the streams and the history (`checks`).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import redis

from app.chaos.chaos_threads import (
    FaultThread,
    KillerThread,
    MarketThread,
    RedisKillerThread,
    Tally,
    Timeline,
    kill_plan,
)
from app.chaos.checks import Records, check, story_parts
from app.chaos.figures import Figure
from app.chaos.history import ingest_history
from app.chaos.market import BOOK, quote, risk_hashes
from app.chaos.monitor import BookMonitor
from app.chaos.observe import order_views, positions
from app.chaos.processes import ChaosRedis, SimulatorProcess, WorkerSupervisor, wait_for
from app.chaos.profile import ChaosProfile
from app.chaos.sim_client import SimControl
from position_manager import events, redis_schema
from position_manager.local_redis import free_port
from position_manager.market_calendar import NEW_YORK
from rules.invariants import whole_shares_covered

# Tuesday 24 November 2026, 10:00 New York: the simulator's clock runs from here at real speed,
# so the whole run is inside one regular session.
CLOCK_START = "2026-11-24T15:00:00+00:00"
TRANSITIONAL = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})


@dataclass
class ChaosReport:
    profile: ChaosProfile
    figures: list[Figure]
    seconds: float
    workdir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Figure]:
        return [f for f in self.figures if f.ok is False]

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name.startswith(name))


def _worker_env(
    redis_url: str, sim_port: int, data_dir: Path, reconcile_seconds: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "REDIS_"))}
    env.update(
        REDIS_URL=redis_url,
        SIMULATOR_PORT=str(sim_port),
        BROKER="simulator",
        DATA_DIR=str(data_dir),
        PM_WORKER_NAME="chaos-worker",
        LOG_LEVEL="INFO",
        # The worker's own catch-up timer, short enough to run several times in one market.
        WORKER_RECONCILE_SECONDS=str(reconcile_seconds),
    )
    return {k: v for k, v in env.items() if not k.startswith("PM_SIM_")}


def _read(client: redis.Redis, stream: str) -> list[events.Event]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    return [events.decode_event(cast(dict[bytes | str, bytes | str], f)) for _id, f in entries]


def run_chaos(
    profile: ChaosProfile,
    workdir: Path | None = None,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
) -> ChaosReport:
    """Run `profile` in `workdir` (a new temp dir by default; it is kept: logs, the AOF, the
    simulator's snapshot and the warehouse are the evidence)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="pm-chaos-"))
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    rng = random.Random(profile.seed)
    began = time.monotonic()
    server = ChaosRedis(workdir / "redis", free_port()).start()
    sim = SimulatorProcess(workdir, server.url, CLOCK_START, profile.rate_limit)
    worker = WorkerSupervisor(
        _worker_env(server.url, 0, workdir / "worker-data", profile.reconcile_seconds),
        workdir / "worker.log",
    )
    control: SimControl | None = None
    threads: list[object] = []
    try:
        progress("starting the simulator (its own process)")
        sim.start()
        worker.env["SIMULATOR_PORT"] = str(sim.port)
        control = SimControl(sim.url)
        _open_book(control, server.url)
        progress("starting the worker (python -m app.worker)")
        worker.spawn()
        if not worker.wait_up(120):
            raise RuntimeError(f"the worker did not start; see {worker.log_path}")
        view = WorkerView(server.url)
        monitor = BookMonitor(
            control, {h.symbol: h.qty for h in BOOK}, profile.sample_interval,
            worker_view=view.read,
        ).start()  # fmt: skip
        line, tally = Timeline(), Tally()
        market = MarketThread(control, server.url, profile, line, tally)
        killer = KillerThread(worker, control, kill_plan(profile, rng), line, tally, rng)
        redis_killer = RedisKillerThread(
            server, [a * profile.market_seconds for a in profile.redis_kills], line, tally, rng
        )
        faults = FaultThread(control, profile, line, tally)
        threads = [market, killer, redis_killer, faults]
        progress(
            f"market open for {profile.market_seconds:.0f} s: {profile.worker_kills} worker "
            f"kills, {len(profile.redis_kills)} Redis kills, {len(profile.faults)} fault phases"
        )
        for thread in threads:
            thread.start()  # type: ignore[attr-defined]
        _supervise(worker, [killer, redis_killer, faults], line, profile)
        progress("recovery: faults off, waiting for every position to be covered")
        control.faults()
        settled = _settle(worker, control, profile.settle_seconds)
        market.halt.set()
        market.join(timeout=10)
        observed = monitor.stop()
        code = worker.stop()
        final_view = view.read() or {}
        view.close()
        progress("history ingest (the Dagster job, in-process)")
        client = redis.Redis.from_url(server.url)
        try:
            position_events = _read(client, events.POSITIONS_STREAM)
            alert_events = _read(client, events.ALERTS_STREAM)
            dead_letters = client.xlen(events.DEAD_LETTER_STREAM)
        finally:
            client.close()
        trades = ingest_history(server.url, workdir / "warehouse.duckdb", workdir / "history")
        assert observed.last_book is not None
        stats = control.stats()
        records = Records(
            observed.last_book, position_events, alert_events, trades, stats, final_view
        )
        figures = _run_figures(profile, worker, server, tally, stats)
        figures += check(
            records,
            observed,
            profile.unprotected_limit_seconds,
            profile.rate_limit,
            profile.reconcile_seconds,
        )
        notes = [
            f"worker exit code on SIGTERM: {code}",
            f"settled within {profile.settle_seconds:.0f} s: {'yes' if settled else 'no'}",
            f"quotes sent {tally.quotes_sent}, lost in Redis outages {tally.quotes_lost}, "
            f"hostile {tally.garbage_sent} (dead letters {dead_letters})",
            f"book samples {observed.samples} (failed {observed.failed_samples})",
            *tally.errors[:5],
        ]
        return ChaosReport(profile, figures, time.monotonic() - began, workdir, notes)
    finally:
        for thread in threads:
            if isinstance(thread, MarketThread):
                thread.halt.set()
        if worker.process is not None:
            worker.kill9()
        if control is not None:
            control.close()
        sim.stop()
        server.stop()


class WorkerView:
    """Each chaos symbol's quantity as the worker records it (its state hash in Redis; none
    once it dropped the position), or None while Redis cannot be read."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.3)

    def read(self) -> dict[str, Decimal] | None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for h in BOOK:
                pipe.hget(redis_schema.POSITION_STATE_KEY.format(symbol=h.symbol), "quantity")
            raw = pipe.execute()
        except redis.RedisError:
            return None
        # a short's quantity is negative there; the checks compare sizes
        return {h.symbol: abs(Decimal(v.decode())) for h, v in zip(BOOK, raw, strict=True) if v}

    def close(self) -> None:
        self.client.close()


def _open_book(control: SimControl, redis_url: str) -> None:
    """The chaos book at the broker (seeded, and one position bought by hand through the API),
    its risk parameters in Redis and the regular session, before the worker starts."""
    control.seed([(h.symbol, h.qty, h.entry) for h in BOOK if not h.by_hand])
    client = redis.Redis.from_url(redis_url)
    try:
        # The worker's pre-earnings check counts days from the broker's New York date.
        session_date = datetime.fromisoformat(CLOCK_START).astimezone(NEW_YORK).date()
        for symbol, fields in risk_hashes(session_date).items():
            client.hset(redis_schema.risk_key(symbol), mapping=redis_schema.redis_fields(fields))
        client.set(redis_schema.SESSION_KEY, "REGULAR")
    finally:
        client.close()
    opening = [quote(h.symbol, h.entry, datetime.now(UTC)) for h in BOOK]
    control.quotes(opening)
    for h in BOOK:
        if h.by_hand:
            control.buy_by_hand(h.symbol, h.qty)

    def bought() -> bool:
        control.quotes(opening)  # a realistic market order fills from a later quote
        held = control.book().positions
        return all(h.symbol in held and held[h.symbol].qty == h.qty for h in BOOK if h.by_hand)

    wait_for(bought, 30, "the hand-placed buy did not fill")
    # Bought while nothing listened (the trade-update bridge was down): its updates never
    # reached the stream. The worker adopts the position at start; what it later reads from the
    # broker's history (catch-up) must not count the same fill again.
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(events.ORDERS_STREAM)
    finally:
        client.close()


def _supervise(
    worker: WorkerSupervisor,
    chaos: list[KillerThread | RedisKillerThread | FaultThread],
    line: Timeline,
    profile: ChaosProfile,
) -> None:
    """Keep the worker running (a process manager restarts what exits) until the market has
    played and every planned kill, outage and fault has happened."""
    deadline = profile.market_seconds + 60 + 10 * profile.worker_kills
    while line.now() < profile.market_seconds or any(t.is_alive() for t in chaos):
        worker.keep_alive()
        if line.now() > deadline:
            line.stopping.set()
            break
        time.sleep(0.2)
    for thread in chaos:
        thread.join(timeout=30)


def _settle(worker: WorkerSupervisor, control: SimControl, timeout: float) -> bool:
    """Wait (bounded) until the worker is up, nothing is in flight at the broker, every whole
    share held is covered and the story has played out at the broker (the market holds its
    final prices meanwhile: a worker that lost time to the chaos may still act on them)."""

    def settled() -> bool:
        worker.keep_alive()
        if not worker.is_up():
            return False
        book = control.book()
        if any(o.status in TRANSITIONAL for o in book.orders.values()):
            return False
        if not all(story_parts(book).values()):
            return False
        return not whole_shares_covered(positions(book), order_views(book))

    try:
        wait_for(settled, timeout, "settle")
        return True
    except TimeoutError:
        return False


def _run_figures(
    profile: ChaosProfile,
    worker: WorkerSupervisor,
    server: ChaosRedis,
    tally: Tally,
    stats: dict[str, int],
) -> list[Figure]:
    hows = sorted({how for _at, how in tally.kills})
    by_how = ", ".join(f"{sum(1 for _a, h in tally.kills if h == how)} {how}" for how in hows)
    faults = (
        f"{stats.get('faults_error', 0)} errors, {stats.get('rate_limited', 0)} 429s "
        f"(budget), {stats.get('faults_dropped', 0)} dropped"
    )
    return [
        Figure(
            "worker kills (kill -9)",
            len(tally.kills),
            f"{profile.worker_kills}",
            len(tally.kills) == profile.worker_kills,
            details=[by_how],
        ),
        Figure(
            "worker restarts",
            worker.starts - 1,
            details=[
                f"unplanned exits: {worker.unplanned_exits}",
                f"restarts not up within 120 s: {tally.kills_not_up}",
            ],
        ),
        Figure(
            "Redis kills (kill -9, back on its AOF)",
            server.kills,
            f"{len(profile.redis_kills)}",
            server.kills == len(profile.redis_kills),
            details=["outages " + ", ".join(f"{s:.1f} s" for s in tally.redis_outages)],
        ),
        Figure(
            "broker fault phases",
            len(tally.fault_phases),
            shown=f"{len(tally.fault_phases)}: {faults}",
            details=tally.fault_phases,
        ),
    ]
