"""The daily risk refresh for N symbols through Dagster, end to end.

    .venv/bin/python benchmarks/bench_refresh.py [--symbols 5000] [--runs 1]

What runs is what the 06:30 schedule runs on a fresh warehouse: the real assets of
`refresh_risk_parameters` (universe, daily bars over the whole ATR lookback window, symbol
profiles, ATR, earnings calendar, risk parameters) materialized in-process with Dagster, against
the Alpaca simulator as its own process (`python -m simulator --bar-universe`: seeded bars for N
symbols, Alpaca's paging at 10,000 bars a page) over HTTP through alpaca-py, DuckDB in a temporary
directory, and a real redis-server (`position_manager.local_redis`) for the risk parameters. The
universe is N watchlist symbols.

Printed: the run's wall time; the time inside the asset bodies (each step from its STEP_START to
its first materialization or output event, as the UI's step timeline shows it) against Dagster's
own overhead (the rest: run and step setup, events, the instance's storage); the bars requests the
simulator served against the minimum, ceil(total bars / 10,000); and the target, <= 10 s for
5,000 symbols. Afterwards every symbol must have its risk parameters in DuckDB and in Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import redis
import requests

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from pipelines.common import new_york_today
from pipelines.market_data.lookback import lookback_window, range_tags
from pipelines.materialize import CHAIN
from pipelines.resources import resources_for
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from position_manager.market_calendar import market_days
from position_manager.redis_schema import RISK_PARAMS_KEY
from position_manager.sample_data import SAMPLE_BY_SYMBOL

REPO = Path(__file__).resolve().parent.parent
PAGE = 10_000
TARGET_SECONDS = 10.0
BODY_END_EVENTS = frozenset(
    {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.STEP_OUTPUT,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
)


def universe(n: int) -> list[str]:
    """N distinct five-letter symbols that are not in the sample universe."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        letters, k = [], i
        for _ in range(4):
            k, r = divmod(k, 26)
            letters.append(chr(ord("A") + r))
        symbol = "Z" + "".join(reversed(letters))
        if symbol not in SAMPLE_BY_SYMBOL:
            out.append(symbol)
        i += 1
    return out


@contextlib.contextmanager
def simulator_process(symbols: list[str], tmp: Path) -> Iterator[str]:
    """`python -m simulator` with seeded bars for `symbols`: its URL while it runs."""
    listing = tmp / "bar_universe.txt"
    listing.write_text("\n".join(symbols))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PM_SIM_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", str(port), "--control",
         "--lifecycle", "instant", "--bar-universe", str(listing)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the simulator did not start (exit {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass(frozen=True, slots=True)
class RefreshRun:
    wall: float
    bodies: dict[str, float]
    bars_requests: int
    bars: int
    published: int
    rows: int

    @property
    def body(self) -> float:
        return sum(self.bodies.values())


def step_bodies(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds per step from its STEP_START to its first materialization/output/check event."""
    started: dict[str, float] = {}
    bodies: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        step = entry.step_key
        if event is None or step is None:
            continue
        stamp = entry.timestamp
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[step] = stamp
        elif event.event_type in BODY_END_EVENTS and step in started and step not in bodies:
            bodies[step] = stamp - started[step]
    return bodies


def refresh(symbols: list[str], sim_url: str, redis_url: str, tmp: Path) -> RefreshRun:
    """One refresh on a fresh warehouse: the whole ATR lookback window in one run."""
    overrides = {
        "data_dir": str(tmp / "data"),
        "broker": "simulator",
        "watchlist": ",".join(symbols),
        "redis_url": redis_url,
        "log_level": "WARNING",
    }
    settings = load_settings(**overrides)
    last = new_york_today() - timedelta(days=1)
    first, last = lookback_window(last, settings.atr_period)
    requests.post(f"{sim_url}/sim/stats", timeout=10)  # reset the request counts
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = dg.materialize(
        CHAIN,
        resources=resources_for(
            settings, broker_url=sim_url, redis_url=redis_url, overrides=overrides
        ),
        tags=range_tags(first, last),
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    wall = time.perf_counter() - started
    assert result.success
    stats = requests.get(f"{sim_url}/sim/stats", timeout=10).json()
    bars_requests = int(stats.get("GET /v2/stocks/bars", stats.get("/v2/stocks/bars", 0)))
    if not bars_requests:
        bars_requests = sum(int(v) for k, v in stats.items() if "bars" in k)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        bars_row = conn.execute("SELECT count(*) FROM daily_bars").fetchone()
        rp_row = conn.execute("SELECT count(*) FROM risk_parameters").fetchone()
    client = redis.Redis.from_url(redis_url)
    published = sum(
        1 for _ in client.scan_iter(match=RISK_PARAMS_KEY.format(symbol="*"), count=10_000)
    )
    return RefreshRun(
        wall=wall,
        bodies=step_bodies(instance, result.run_id),
        bars_requests=bars_requests,
        bars=int(bars_row[0]) if bars_row else 0,
        published=published,
        rows=int(rp_row[0]) if rp_row else 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1, help="fresh-warehouse runs (best shown)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    symbols = universe(args.symbols)
    tmp = Path(tempfile.mkdtemp(prefix="pm-bench-refresh-"))
    settings = load_settings(data_dir=str(tmp))
    first, last = lookback_window(new_york_today() - timedelta(days=1), settings.atr_period)
    now = datetime.now(UTC)
    sessions = [d for d in market_days(first, last) if d.close <= now]
    with (
        RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server,
        simulator_process(symbols, tmp) as sim_url,
    ):
        runs = [refresh(symbols, sim_url, server.url, tmp / f"run-{i}") for i in range(args.runs)]
    best = min(runs, key=lambda r: r.wall)
    minimum = math.ceil(best.bars / PAGE)
    overhead = best.wall - best.body
    print(f"refresh of {args.symbols:,} symbols, window {first}..{last} ({len(sessions)} sessions)")
    print(f"wall time:        {best.wall:7.2f} s  (best of {len(runs)}: "
          f"{', '.join(f'{r.wall:.2f}' for r in runs)})")  # fmt: skip
    print(f"in asset bodies:  {best.body:7.2f} s")
    for step, seconds in sorted(best.bodies.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<22} {seconds:7.2f} s")
    print(f"Dagster overhead: {overhead:7.2f} s  ({overhead / best.wall:.0%} of the wall time)")
    print(f"bars: {best.bars:,} in {best.bars_requests} requests (minimum {minimum}: "
          f"ceil({best.bars:,} / {PAGE:,}))")  # fmt: skip
    print(f"risk parameters: {best.rows:,} rows in DuckDB, {best.published:,} hashes in Redis")
    met = best.wall <= TARGET_SECONDS * args.symbols / 5000
    print(f"target: <= {TARGET_SECONDS:.0f} s for 5,000 symbols: {'met' if met else 'NOT met'}")
    assert best.rows == args.symbols and best.published == args.symbols, "symbols missing"
    write(args.json, [
        row(f"risk refresh, {args.symbols:,} symbols through Dagster: wall time", best.wall, "s",
            target=f"<= {TARGET_SECONDS * args.symbols / 5000:g} s", met=met,
            shown=f"{best.wall:.2f} s ({overhead / best.wall:.0%} Dagster overhead)"),
        row(f"risk refresh, {args.symbols:,} symbols: bars requests", best.bars_requests,
            "requests", baseline=minimum, target=f"= ceil({best.bars:,} bars / {PAGE:,})",
            met=best.bars_requests <= minimum),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
