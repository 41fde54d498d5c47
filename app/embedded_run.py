"""The main job on the embedded defaults: the whole system, end to end, in one command.

Local Redis -> simulator (demo book opened) -> Dagster chain (bars, profiles, ATR, earnings, risk
parameters -> Redis) -> the worker's startup scan (a stop on every position) -> a scripted market
session of quotes through Redis (trailing, profit-taking, a stop hit, a short) -> position history
ingested into DuckDB -> the book as it stands.

The simulator's clock is frozen inside the most recent regular session, so every run shows the
same decisions. The demo lives apart from the long-running embedded stack (`worker`, `ui`): its
own Redis server, simulator and warehouse under DATA_DIR/demo, so it can never send a quote to a
running worker. Its Dagster run is recorded in the instance the UI uses (DATA_DIR/dagster_home),
so `position-manager ui` shows the demo's run, its materializations and its checks. Each run
starts over unless asked to resume (`demo --resume`), in which case the
worker picks up the previous run's positions, stops and flags from Redis and the simulator's
snapshot.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis

from app.dagster_ui import dagster_home
from book.risk import load_risk_params
from broker.factory import build_broker
from broker.interface import Broker
from position_manager import events
from position_manager.config import Settings
from position_manager.local_redis import RedisServer, free_port
from position_manager.market_calendar import NEW_YORK, market_day
from position_manager.sample_data import SAMPLE_BOOK
from rules.model import Position
from rules.ticks import round_to_tick, tick_size
from simulator import start_simulator
from simulator.config import EngineConfig, SimulatorConfig
from streaming.consumer import ConsumerConfig
from streaming.session_publisher import SessionPublisher
from streaming.worker import Worker

log = logging.getLogger(__name__)

# Price path of the scripted session, as multiples of each position's entry price. Each list is
# walked one step per round; the last value repeats once a list is exhausted.
DEMO_PATH: dict[str, list[str]] = {
    "AAPL": ["1.00", "1.02", "1.04", "1.06", "1.08", "1.10", "1.09", "1.11"],
    "MSFT": ["1.00", "1.01", "1.00", "0.99", "1.00", "1.01", "1.00", "1.00"],
    "NVDA": ["1.00", "1.05", "1.10", "1.15", "1.21", "1.30", "1.42", "1.52"],
    "XOM": ["1.00", "0.98", "0.96", "0.94", "0.92", "0.93", "0.91", "0.90"],
    "SNDL": ["1.00", "0.96", "0.92", "0.88", "0.84", "0.80", "0.76", "0.74"],
    "BNGO": ["1.00", "1.01", "1.02", "1.03", "1.02", "1.04", "1.05", "1.06"],
}


@dataclass
class RunReport:
    demo_time: datetime
    startup: Any
    materialized_assets: int
    quotes_published: int
    events_by_name: dict[str, int] = field(default_factory=dict)
    history_rows: int | None = None
    prices: dict[str, Decimal] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    atrs: dict[str, Decimal | None] = field(default_factory=dict)
    warehouse_path: Path | None = None


def demo_instant(now: datetime | None = None) -> datetime:
    """10:00 New York on the most recent trading day whose session has started."""
    moment = now or datetime.now(UTC)
    day = moment.astimezone(NEW_YORK).date()
    for back in range(0, 15):
        found = market_day(day - timedelta(days=back))
        if found is not None and found.open <= moment:
            return found.open + timedelta(minutes=30)
    raise RuntimeError("no trading day in the last two weeks")


def _drain(worker: Worker, idle_rounds: int = 2, timeout: float = 20.0) -> None:
    """Process until nothing is read and no order job is in flight, twice in a row (fills
    published by the simulator while a job ran are read on the next pass)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < idle_rounds and time.monotonic() < deadline:
        read = worker.process_batch(block_ms=5)
        worker.wait_idle(5.0)
        quiet = quiet + 1 if read == 0 and not worker.executor.in_flight else 0


def _quote_fields(price: Decimal) -> dict[str, Decimal]:
    tick = tick_size(price)
    return {"bid": price - tick, "ask": price + tick, "last": price}


def _count_events(client: Any) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for stream in (events.POSITIONS_STREAM, events.ORDERS_STREAM, events.ALERTS_STREAM):
        counts.update(fields[b"event"].decode() for _id, fields in client.xrange(stream))
    return dict(sorted(counts.items()))


def demo_settings(settings: Settings) -> Settings:
    """The same settings with everything the demo writes under DATA_DIR/demo."""
    return settings.model_copy(update={"data_dir": settings.data_dir / "demo"})


def reset_data(settings: Settings) -> None:
    """Forget the demo's simulator snapshot, Redis data and warehouse (a run without --resume)."""
    shutil.rmtree(demo_settings(settings).data_dir, ignore_errors=True)


def run_embedded(
    settings: Settings,
    *,
    redis_url: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    now: datetime | None = None,
) -> tuple[RunReport, Broker, redis.Redis, Callable[[], None]]:
    """Run everything once; returns the report, the broker and Redis client for display, and a
    function that stops what was started. Without `redis_url` the demo starts its own Redis."""
    home = dagster_home(settings)
    settings = demo_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server: RedisServer | None = None
    if redis_url is None:
        server = RedisServer(port=free_port(), directory=settings.data_dir / "redis").start()
        redis_url = server.url
    url = redis_url
    client = redis.Redis.from_url(url)
    # Alpaca's asynchronous lifecycle (accepted, then filled by a later quote; cancels and
    # replaces pending until they land), with no latency so the scripted story is repeatable.
    lifecycle = EngineConfig(lifecycle="realistic", accept_latency_s=0.0, fill_latency_s=0.0)
    sim = start_simulator(
        SimulatorConfig(engine=lifecycle),
        redis_url=url,
        snapshot_path=settings.data_dir / "simulator.json",
    )
    instant = demo_instant(now)
    sim.simulator.set_clock(at=instant, speed=0)
    broker = build_broker(settings, base_url=sim.url, redis_url=url)
    worker: Worker | None = None

    def stop() -> None:
        if worker is not None:
            worker.close()
        sim.stop()
        client.close()
        if server is not None:
            server.stop()

    try:
        if not broker.list_positions():
            progress("opening the demo book in the simulator")
            sim.simulator.seed_positions(SAMPLE_BOOK)
        progress("materializing bars -> ATR -> risk parameters (Dagster, in-process)")
        import dagster as dg

        from pipelines.materialize import materialize_everything

        instance = dg.DagsterInstance.from_config(str(home))
        try:
            result = materialize_everything(
                settings,
                broker_url=sim.url,
                redis_url=url,
                last=instant.date() - timedelta(days=1),
                log_level="WARNING",
                instance=instance,
            )
        finally:
            instance.dispose()
        materialized = len(result.get_asset_materialization_events())
        SessionPublisher(client, broker).publish_if_changed()
        progress("worker startup scan: protecting every position")
        worker = Worker(settings, broker, client, consumer=ConsumerConfig(consumer="run-demo"))
        startup = worker.start()
        _drain(worker)
        progress("replaying a scripted session of quotes through Redis")
        report = RunReport(instant, startup, materialized, 0)
        _replay(sim.simulator, client, worker, report, instant)
        # The session's last marks, so the history's unrealized P&L is the book's to the cent.
        events.publish(client, events.COMMAND_PNL_SNAPSHOT, {})
        _drain(worker)
        report.events_by_name = _count_events(client)
        report.positions = [held.position for held in worker.engine.held.values()]
        report.atrs = atr_by_symbol(client, [symbol for symbol, _q, _e in SAMPLE_BOOK])
        report.history_rows = _ingest_history(settings, client)
        report.warehouse_path = settings.warehouse_path
        return report, broker, client, stop
    except BaseException:
        stop()
        raise


def _replay(
    simulator: Any, client: redis.Redis, worker: Worker, report: RunReport, instant: datetime
) -> None:
    entries = {symbol: entry for symbol, _qty, entry in SAMPLE_BOOK}
    steps = max(len(path) for path in DEMO_PATH.values())
    for step in range(steps):
        ts = instant + timedelta(minutes=5 * step)
        for symbol, path in DEMO_PATH.items():
            price = round_to_tick(entries[symbol] * Decimal(path[min(step, len(path) - 1)]))
            quote = _quote_fields(price)
            # The broker sees the price first (as a real market would), then the worker.
            simulator.feed_quote(symbol, quote["bid"], quote["ask"], quote["last"], ts)
            events.publish(
                client,
                events.QUOTE_UPDATED,
                {"symbol": symbol, **quote, "timestamp": ts.isoformat()},
            )
            report.quotes_published += 1
            report.prices[symbol] = price
        _drain(worker)


def _ingest_history(settings: Settings, client: redis.Redis) -> int:
    """Position history into DuckDB with the code the history sensor's job runs."""
    from pipelines.history.jobs import ingest_all
    from warehouse.connection import open_warehouse

    with open_warehouse(settings.warehouse_path) as conn:
        return sum(r.written for r in ingest_all(conn, client))


def atr_by_symbol(client: redis.Redis, symbols: list[str]) -> dict[str, Decimal | None]:
    return {s: p.atr for s, p in load_risk_params(client, symbols).items()}
