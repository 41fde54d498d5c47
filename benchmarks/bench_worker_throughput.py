"""Worker throughput: `--held` positions (1,000 by default) among 5,000 quoted symbols.

Pushes N quotes into Redis, each for one of the 5,000 symbols at random (so with 1,000 held, a
fifth are for held symbols; with `--held 20`, the old profile, 0.4 %), then measures in
the same run
  1. the raw redis-py rate: XREADGROUP (COUNT) + one XACK per batch, no processing;
  2. the worker's sustained rate: `Worker.process_batch()` until the stream is drained.
Targets: >= 100,000 quotes/s and >= 0.9x the raw rate.

The held quotes move: each held symbol walks by a few cents a quote around its entry (100.00),
so every one of them goes through the rules (best price, P&L, stop and target crossings, profit
levels, trailing), and the symbols that make a new high above entry trail their stop (resting at
95.00 at the broker, adopted by the startup scan): those decisions are counted and reported,
their order requests go to the stand-in broker on the executor's threads as in production. No
step is large enough to need a price confirmation, and no price reaches the stop or a profit
level, so the decisions are trailing replaces only.

    .venv/bin/python benchmarks/bench_worker_throughput.py [--quotes 500000] [--held 1000]
        [--count 5000] [--json PATH]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from book.executor import Job
from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from position_manager import events, redis_schema
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from simulator import start_simulator
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker, tune_interpreter

SYMBOLS = 5000
ENTRY = Decimal(100)
STOP = "95"  # the resting stop the startup scan adopts: 5 below entry, the large-cap trail
# The held prices walk in cents, between these bounds (no confirmation, stop or profit level).
WALK_LOW, WALK_HIGH, WALK_START, WALK_STEP = 9900, 10040, 9980, 3
TARGET_RATE = 100_000
TARGET_RATIO = 0.9
CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def symbols() -> list[str]:
    out = []
    for i in range(SYMBOLS):
        a, b, c = i // 676, (i // 26) % 26, i % 26
        out.append("S" + chr(65 + a % 26) + chr(65 + b) + chr(65 + c))
    return out


def push_quotes(
    client: redis.Redis, names: list[str], held: list[str], n: int
) -> tuple[int, dict[str, int]]:
    """N quotes; returns how many were for held symbols and each held symbol's last price (in
    cents)."""
    rng = random.Random(7)
    ts = CLOCK.isoformat()
    cents = dict.fromkeys(held, WALK_START)
    held_quotes = 0
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        symbol = names[rng.randrange(SYMBOLS)]
        if symbol in cents:
            step = rng.randint(-WALK_STEP, WALK_STEP)
            cents[symbol] = min(WALK_HIGH, max(WALK_LOW, cents[symbol] + step))
            bid = cents[symbol] / 100
            held_quotes += 1
        else:
            bid = 49.5 + rng.random() * 0.4
        fields = events.encode_event(
            events.QUOTE_UPDATED,
            {"symbol": symbol, "bid": f"{bid:.2f}", "ask": f"{bid:.2f}", "timestamp": ts},
        )
        pipe.xadd(events.QUOTES_STREAM, fields)  # type: ignore[arg-type]
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    return held_quotes, cents


def raw_rate(client: redis.Redis, count: int, n: int) -> float:
    client.xgroup_create(events.QUOTES_STREAM, "raw", id="0")
    start = time.perf_counter()
    done = 0
    while done < n:
        reply = cast(
            list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
            client.xreadgroup("raw", "raw-1", {events.QUOTES_STREAM: ">"}, count=count),
        )
        if not reply:
            break
        entries = reply[0][1]
        client.xack(events.QUOTES_STREAM, "raw", *[e[0] for e in entries])
        done += len(entries)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=500_000)
    parser.add_argument("--held", type=int, default=1000, help="positions held (of 5,000)")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp())
    load_before = os.getloadavg()
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        names = symbols()
        held = names[:: SYMBOLS // args.held][: args.held] if args.held else []
        sim = start_simulator(
            # The stand-in's own lifecycle work is not what is measured here.
            lifecycle="instant",
            redis_url=server.url,
            rate_limit=10**9,
            clock_speed=0.0,
            clock_start=CLOCK,
        )
        try:
            engine = sim.simulator.engine
            sim.simulator.seed_positions(
                [(s, ENTRY, ENTRY) for s in held], dict.fromkeys(held, ENTRY)
            )
            for symbol in held:  # each with its protective stop already resting
                engine.submit(
                    {"symbol": symbol, "qty": "100", "side": "sell", "type": "stop",
                     "stop_price": STOP, "time_in_force": "gtc",
                     "client_order_id": f"hand-{symbol}"}
                )  # fmt: skip
            settings = load_settings(redis_url=server.url, data_dir=tmp / "data")
            broker = build_broker(settings, base_url=sim.url, rate_limiter=RateLimiter(10**9, 60))
            client.set(redis_schema.SESSION_KEY, "REGULAR")
            decisions: list[Job] = []

            def on_job(job: Job) -> None:
                if job.cause == "quote":
                    decisions.append(job)

            cfg = ConsumerConfig(consumer="bench", count=args.count, block_ms=0)
            worker = Worker(
                settings, broker, client, consumer=cfg, housekeeping_interval=1.0, on_job=on_job
            )
            worker.start(scan_timeout=120)
            tune_interpreter()  # as `run_worker` does (GIL switch interval, gc.freeze)
            assert len(worker.engine.held) == args.held, len(worker.engine.held)
            client.delete(events.POSITIONS_STREAM)
            t0 = time.perf_counter()
            held_quotes, last_cents = push_quotes(client, names, held, args.quotes)
            push_s = time.perf_counter() - t0
            raw = raw_rate(client, args.count, args.quotes)
            start = time.perf_counter()
            seen = 0
            while seen < args.quotes:
                read = worker.process_batch(block_ms=0)
                if read == 0:
                    break
                seen += read
            elapsed = time.perf_counter() - start
            rate = seen / elapsed
            worker.wait_idle(30)
            pending = client.xpending(events.QUOTES_STREAM, "pm-worker")["pending"]
            # Every held quote went through the rules: each symbol's last price is its last quote.
            evaluated = all(
                worker.engine.held[s].position.last_price == Decimal(c) / 100
                for s, c in last_cents.items()
            )
            trails = sum(1 for job in decisions for a in job.actions
                         if type(a).__name__ == "ReplaceStop")  # fmt: skip
            published = client.xlen(events.POSITIONS_STREAM)
            ratio = rate / raw
            met = rate >= TARGET_RATE and ratio >= TARGET_RATIO
            print(
                f"quotes pushed:         {args.quotes:,} over {SYMBOLS:,} symbols, "
                f"{args.held:,} held ({held_quotes:,} held quotes; {args.quotes / push_s:,.0f}/s "
                "to push)"
            )
            print(f"raw XREADGROUP+XACK:   {raw:,.0f} quotes/s (COUNT {args.count})")
            print(
                f"worker process_batch:  {rate:,.0f} quotes/s ({seen:,} in {elapsed:.2f}s), "
                f"{ratio:.2f}x raw, pending after: {pending}"
            )
            print(
                f"rules: {held_quotes:,} held quotes evaluated "
                f"({'every held symbol at its last quote' if evaluated else 'NOT all evaluated'}); "
                f"decisions: {len(decisions):,} order jobs ({trails:,} trailing replaces); "
                f"position events published: {published:,}"
            )
            print(
                f"target >= {TARGET_RATE:,}/s: {'met' if rate >= TARGET_RATE else 'NOT met'}; "
                f">= {TARGET_RATIO}x raw: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
            )
            print(
                "load average at the start: "
                + " / ".join(f"{x:.2f}" for x in load_before)
                + "; at the end: "
                + " / ".join(f"{x:.2f}" for x in os.getloadavg())
            )
            worker.close()
            write(args.json, [
                row(f"worker throughput ({args.held:,} held of {SYMBOLS:,} quoted, "
                    f"{len(decisions):,} decisions)", rate, "quotes/s",
                    baseline=raw, target=f">= {TARGET_RATE:,}/s and >= {TARGET_RATIO}x the raw "
                    "rate", met=met),
            ])  # fmt: skip
        finally:
            sim.stop()
            client.close()


if __name__ == "__main__":
    main()
