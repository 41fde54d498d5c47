"""Resident memory of the worker per held position.

The worker runs as its own process (`python -m app.worker`, as in production) against a local
Redis and the simulator (in this process, its rate budget out of the way), on a book of N
positions that already have their stops (so the startup scan adopts them: no order traffic is
measured). Its resident set (VmRSS from /proc) is read once its health says it holds all N,
beside the same worker on an empty book in the same run (the baseline); the figure is the
difference per position.

    .venv/bin/python benchmarks/bench_memory.py [--positions 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from position_manager import redis_schema
from position_manager.local_redis import RedisServer, free_port
from simulator import start_simulator

REPO = Path(__file__).resolve().parent.parent
CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def rss_mib(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    base, _ = worker_rss(0, tmp, args.timeout)
    print(f"worker, empty book:       {base:,.1f} MiB resident (the baseline)")
    rows = []
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
                baseline=base,
                target="reported (no target)",
                shown=f"{per:,.1f} KiB ({rss:,.0f} MiB at {n:,}, {base:,.0f} MiB empty)",
            )
        )
    write(args.json, rows)


if __name__ == "__main__":
    main()
