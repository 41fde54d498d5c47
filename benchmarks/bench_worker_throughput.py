"""Worker throughput: 20 held positions among 5,000 quoted symbols.

Pushes N quotes into Redis, then measures in the same run
  1. the raw redis-py rate: XREADGROUP (COUNT) + one XACK per batch, no processing;
  2. the worker's sustained rate: `Worker.process_batch()` until the stream is drained.
Target: >= 100,000 quotes/s and >= half the raw rate.

    .venv/bin/python benchmarks/bench_worker_throughput.py [--quotes 500000] [--count 5000]
"""

from __future__ import annotations

import argparse
import logging
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

from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from position_manager import events, redis_schema
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from simulator import start_simulator
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker, tune_interpreter

HELD = 20
SYMBOLS = 5000


def symbols() -> list[str]:
    out = []
    for i in range(SYMBOLS):
        a, b, c = i // 676, (i // 26) % 26, i % 26
        out.append("S" + chr(65 + a % 26) + chr(65 + b) + chr(65 + c))
    return out


def push_quotes(client: redis.Redis, names: list[str], n: int) -> None:
    rng = random.Random(7)
    ts = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).isoformat()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        symbol = names[rng.randrange(SYMBOLS)]
        # held symbols hover just under entry (no order decisions: this measures the read path)
        bid = 99.5 + rng.random() * 0.4
        fields = events.encode_event(
            events.QUOTE_UPDATED,
            {"symbol": symbol, "bid": f"{bid:.2f}", "ask": f"{bid + 0.02:.2f}", "timestamp": ts},
        )
        pipe.xadd(events.QUOTES_STREAM, fields)  # type: ignore[arg-type]
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


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
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp())
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        names = symbols()
        held = names[:: SYMBOLS // HELD][:HELD]
        sim = start_simulator(
            # The stand-in's own lifecycle work is not what is measured here.
            lifecycle="instant",
            redis_url=server.url,
            rate_limit=100_000,
            clock_speed=0.0,
            clock_start=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        )
        try:
            sim.simulator.seed_positions(
                [(s, Decimal(100), Decimal(100)) for s in held], {s: Decimal(100) for s in held}
            )
            settings = load_settings(redis_url=server.url, data_dir=tmp / "data")
            broker = build_broker(settings, base_url=sim.url, rate_limiter=RateLimiter(100_000, 60))
            client.set(redis_schema.SESSION_KEY, "REGULAR")
            cfg = ConsumerConfig(consumer="bench", count=args.count, block_ms=0)
            worker = Worker(settings, broker, client, consumer=cfg, housekeeping_interval=1.0)
            worker.start()
            tune_interpreter()  # as `run_worker` does (GIL switch interval, gc.freeze)
            assert len(worker.engine.held) == HELD
            t0 = time.perf_counter()
            push_quotes(client, names, args.quotes)
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
            pending = client.xpending(events.QUOTES_STREAM, "pm-worker")["pending"]
            print(
                f"quotes pushed:         {args.quotes:,} over {SYMBOLS:,} symbols, "
                f"{HELD} held ({args.quotes / push_s:,.0f}/s to push)"
            )
            print(f"raw XREADGROUP+XACK:   {raw:,.0f} quotes/s (COUNT {args.count})")
            print(
                f"worker process_batch:  {rate:,.0f} quotes/s ({seen:,} in {elapsed:.2f}s), "
                f"{rate / raw:.0%} of raw, pending after: {pending}"
            )
            print(
                f"target >= 100,000/s: {'met' if rate >= 100_000 else 'NOT met'}; "
                f">= half of raw: {'met' if rate >= raw / 2 else 'NOT met'}"
            )
            worker.close()
            write(args.json, [
                row("worker throughput (20 held of 5,000 quoted)", rate, "quotes/s",
                    baseline=raw, target=">= 100,000/s and >= half the raw rate",
                    met=rate >= 100_000 and rate >= raw / 2),
            ])  # fmt: skip
        finally:
            sim.stop()
            client.close()


if __name__ == "__main__":
    main()
