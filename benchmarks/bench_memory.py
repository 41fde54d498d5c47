"""Resident memory of the worker per held position, and of a reconciliation run.

The worker runs as its own process (`python -m app.worker`, as in production) against a local
Redis and the simulator (in this process, its rate budget out of the way), on a book of N
positions that already have their stops (so the startup scan adopts them: no order traffic is
measured). Its resident set (VmRSS from /proc) is read once its health says it holds all N,
beside the same worker on an empty book in the same run (the baseline); the figure is the
difference per position.

The reconciliation run is the `reconcile_positions_job` (Dagster, in-process) in a process of its
own against the same kind of book (`--reconcile 5000` positions with their stops resting), the
worker down so the job does the work itself (the heavier path: the catch-up with the broker, the
comparison, the leases); its peak resident set (VmHWM) and its resident set at the end, beside
the same run on an empty book.

    .venv/bin/python benchmarks/bench_memory.py [--positions 1000 10000] [--reconcile 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from position_manager import redis_schema
from position_manager.local_redis import RedisServer, free_port
from simulator import start_simulator

REPO = Path(__file__).resolve().parent.parent
CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def rss_mib(pid: int | str, field: str = "VmRSS") -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def seeded_simulator(n: int) -> Any:
    """The simulator (this process) with `n` positions whose protective stops already rest."""
    handle = start_simulator(
        lifecycle="instant", rate_limit=10**9, clock_start=CLOCK, clock_speed=0.0
    )
    engine = handle.simulator.engine
    book = [(f"M{i:05d}", Decimal(100), Decimal(50)) for i in range(n)]
    handle.simulator.seed_positions(book, {s: Decimal(50) for s, _, _ in book})
    for symbol, qty, _ in book:
        engine.submit(
            {"symbol": symbol, "qty": str(qty), "side": "sell", "type": "stop",
             "stop_price": "46", "time_in_force": "gtc", "client_order_id": f"hand-{symbol}"}
        )  # fmt: skip
    return handle


def reconcile_child(sim_url: str, redis_url: str, data_dir: str) -> None:
    """In its own process: one reconciliation run; prints its figures as one JSON line."""
    from pipelines.protection.reconciliation import reconcile_positions_job, reconcile_run_config
    from pipelines.resources import resources_for
    from position_manager.config import load_settings

    overrides = {"data_dir": data_dir, "broker": "simulator", "redis_url": redis_url,
                 "log_level": "WARNING"}  # fmt: skip
    settings = load_settings(**overrides)
    before = rss_mib("self")
    started = time.monotonic()
    result = reconcile_positions_job.execute_in_process(
        run_config={**reconcile_run_config("benchmark"),
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        resources=resources_for(settings, broker_url=sim_url, redis_url=redis_url,
                                overrides=overrides),
    )  # fmt: skip
    took = time.monotonic() - started
    step = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    metadata = step.event_specific_data.metadata  # type: ignore[union-attr]
    print(json.dumps({
        "before_mib": before, "rss_mib": rss_mib("self"), "peak_mib": rss_mib("self", "VmHWM"),
        "seconds": took, "checked": metadata["positions_checked"].value,
        "mode": metadata["mode"].value, "status": metadata["status"].value,
    }))  # fmt: skip


def reconcile_rss(n: int, tmp: Path) -> dict[str, Any]:
    """A reconciliation run over `n` positions in its own process: its figures."""
    with RedisServer(port=free_port(), directory=tmp / f"redis-reconcile-{n}").start(
        appendonly=False
    ) as server:
        redis.Redis.from_url(server.url).set(redis_schema.SESSION_KEY, "REGULAR")
        with seeded_simulator(n) as sim:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "REDIS_"))}
            out = subprocess.run(
                [sys.executable, __file__, "--reconcile-child", sim.url, server.url,
                 str(tmp / f"data-reconcile-{n}")],
                env=env, cwd=REPO, capture_output=True, text=True, check=True, timeout=900,
            )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["checked"] != n:
        raise RuntimeError(f"the run checked {figures['checked']} positions, not {n}")
    return figures


def worker_rss(n: int, tmp: Path, timeout: float) -> tuple[float, float]:
    """(resident MiB once the worker holds `n` positions, seconds until then)."""
    with RedisServer(port=free_port(), directory=tmp / f"redis-{n}").start(
        appendonly=False
    ) as server:
        client = redis.Redis.from_url(server.url)
        client.set(redis_schema.SESSION_KEY, "REGULAR")
        with start_simulator(
            lifecycle="instant", rate_limit=10**9, clock_start=CLOCK, clock_speed=0.0
        ) as sim:
            engine = sim.simulator.engine
            book = [(f"M{i:05d}", Decimal(100), Decimal(50)) for i in range(n)]
            sim.simulator.seed_positions(book, {s: Decimal(50) for s, _, _ in book})
            for symbol, qty, _ in book:  # each with its protective stop already resting
                engine.submit(
                    {"symbol": symbol, "qty": str(qty), "side": "sell", "type": "stop",
                     "stop_price": "46", "time_in_force": "gtc",
                     "client_order_id": f"hand-{symbol}"}
                )  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "REDIS_"))}
            env.update(
                REDIS_URL=server.url,
                SIMULATOR_PORT=sim.url.rsplit(":", 1)[1],
                BROKER="simulator",
                DATA_DIR=str(tmp / f"data-{n}"),
                PM_WORKER_NAME=f"memory-{n}",
                LOG_LEVEL="WARNING",
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.worker"], env=env, cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            started = time.monotonic()
            try:
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the worker exited with {proc.returncode}")
                    health = redis_schema.text_fields(
                        client.hgetall(redis_schema.WORKER_HEALTH_KEY)
                    )
                    if health.get("positions_count") == str(n) and client.get(
                        redis_schema.WORKER_HEARTBEAT_KEY
                    ):
                        break
                    if time.monotonic() - started > timeout:
                        raise RuntimeError(f"the worker never held {n} positions: {health}")
                    time.sleep(0.2)
                took = time.monotonic() - started
                time.sleep(2.0)  # a few housekeeping ticks: the steady state, not the peak
                return rss_mib(proc.pid), took
            finally:
                proc.terminate()
                proc.wait(timeout=30)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--reconcile-child":
        reconcile_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--reconcile", type=int, default=5000, help="0: no reconciliation run")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    rows = []
    if args.reconcile:
        empty = reconcile_rss(0, tmp)
        full = reconcile_rss(args.reconcile, tmp)
        per = (full["peak_mib"] - empty["peak_mib"]) * 1024 / args.reconcile
        for label, f in (("empty book", empty), (f"{args.reconcile:,} positions", full)):
            print(f"reconciliation run, {label:>16}: peak {f['peak_mib']:,.1f} MiB resident, "
                  f"{f['rss_mib']:,.1f} MiB at the end ({f['before_mib']:,.1f} MiB before the "
                  f"run), {f['seconds']:.1f} s, mode {f['mode']}, {f['status']}")  # fmt: skip
        print(f"reconciliation: {per:,.1f} KiB peak per position")
        rows.append(
            row(
                f"reconciliation run memory per position ({args.reconcile:,} positions)",
                per,
                "KiB",
                baseline=None,  # the empty book is in MiB, this in KiB: in `shown`
                target="reported (no target)",
                shown=f"{per:,.1f} KiB (peak {full['peak_mib']:,.0f} MiB at "
                f"{args.reconcile:,}, {empty['peak_mib']:,.0f} MiB empty)",
            )
        )
    if not args.positions:
        write(args.json, rows)
        return
    base, _ = worker_rss(0, tmp, args.timeout)
    print(f"worker, empty book:       {base:,.1f} MiB resident (the baseline)")
    for n in args.positions:
        rss, took = worker_rss(n, tmp, args.timeout)
        per = (rss - base) * 1024 / n
        print(f"worker, {n:>6,} held:      {rss:,.1f} MiB resident: {per:,.1f} KiB per position "
              f"(startup scan {took:.1f} s)")  # fmt: skip
        rows.append(
            row(
                f"worker memory per held position ({n:,} held)",
                per,
                "KiB",
                baseline=None,  # the empty book is in MiB, this in KiB: in `shown`
                target="reported (no target)",
                shown=f"{per:,.1f} KiB ({rss:,.0f} MiB at {n:,}, {base:,.0f} MiB empty)",
            )
        )
    write(args.json, rows)


if __name__ == "__main__":
    main()
