"""Worker latency at 1,000 quotes/s: XADD -> decision, and XADD -> order request leaving.

A producer thread XADDs 1,000 quotes a second (10 % for the 20 held symbols, each one a new high
that tightens the trailing stop, so it yields a ReplaceStop decision unless that symbol's
previous replace is still in flight); the worker runs its normal blocking loop (`Worker.run`) in
another thread. The broker simulator runs in its own process (as a remote broker would), so its
HTTP serving does not compete with the worker for the GIL. "Decision" is when the engine hands
the job over; "order request" is when an executor thread starts the broker call (lease taken),
so the broker's own response time is excluded. Target: p99 < 2 ms.

    .venv/bin/python benchmarks/bench_worker_latency.py [--seconds 10] [--rate 1000]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis

from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from broker.types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager import events
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from streaming.consumer import ConsumerConfig
from streaming.executor import Job
from streaming.worker import Worker

HELD = [f"H{chr(65 + i)}" for i in range(20)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_positions(client: redis.Redis, broker: Any) -> None:
    """100 shares of each held symbol, bought at 100 through the simulator's own quote feed."""
    ts = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).isoformat()
    for symbol in HELD:
        events.publish(
            client,
            events.QUOTE_UPDATED,
            {"symbol": symbol, "bid": "100", "ask": "100", "timestamp": ts},
        )
    time.sleep(1.0)  # the simulator's quote consumer polls every 200 ms
    for symbol in HELD:
        broker.submit_order(
            OrderRequest(
                symbol,
                OrderSide.BUY,
                Decimal(100),
                OrderKind.MARKET,
                f"bench-{symbol}",
                TimeInForce.DAY,
            )
        )
    deadline = time.monotonic() + 10
    while len(broker.list_positions()) < len(HELD):
        assert time.monotonic() < deadline, "positions did not open"
        time.sleep(0.05)
    # the startup scan should start from a clean order stream
    client.delete(events.ORDERS_STREAM)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="override the worker's GIL switch interval (seconds)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    tmp = Path(tempfile.mkdtemp())
    sent: dict[bytes, float] = {}
    decided: list[float] = []
    requested: list[float] = []

    def on_job(job: Job) -> None:
        if job.cause == "quote":
            at = sent.get(job.acks[0][1]) if job.acks else None
            if at is not None:
                decided.append(job.created - at)
                job.context["sent"] = at

    def on_request(job: Job, action: Any) -> None:
        at = job.context.get("sent")
        if at is not None and "requested" not in job.context:
            job.context["requested"] = True
            requested.append(time.perf_counter() - at)

    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "broker.simulator",
                "--redis-url",
                server.url,
                "--consume-quotes",
                "--rate-limit",
                "1000000",
                "--clock-speed",
                "0",
                "--clock-start",
                "2026-11-24T15:00:00+00:00",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        stop = threading.Event()
        try:
            assert sim.stdout is not None
            url = sim.stdout.readline().strip()
            settings = load_settings(redis_url=server.url, data_dir=tmp / "data")
            broker = build_broker(settings, base_url=url, rate_limiter=RateLimiter(1_000_000, 60))
            open_positions(client, broker)
            client.set(events.SESSION_KEY, "REGULAR")
            worker = Worker(
                settings,
                broker,
                client,
                on_job=on_job,
                on_request=on_request,
                consumer=ConsumerConfig(consumer="bench", block_ms=100),
            )
            worker.start()
            loop = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            loop.start()
            producer = redis.Redis.from_url(server.url)
            rng = random.Random(3)
            price = dict.fromkeys(HELD, 100.0)
            ts = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).isoformat()
            interval = 1.0 / args.rate
            total = int(args.seconds * args.rate)
            next_at = time.perf_counter()
            for i in range(total):
                if i % 10 == 0:
                    symbol = HELD[(i // 10) % len(HELD)]
                    price[symbol] += 0.25
                    bid = price[symbol]
                else:
                    symbol, bid = f"U{rng.randrange(4980):04d}", 50.0
                fields = events.encode_event(
                    events.QUOTE_UPDATED,
                    {
                        "symbol": symbol,
                        "bid": f"{bid:.2f}",
                        "ask": f"{bid + 0.02:.2f}",
                        "timestamp": ts,
                    },
                )
                t = time.perf_counter()
                msg_id = producer.xadd(events.QUOTES_STREAM, fields)  # type: ignore[arg-type]
                sent[msg_id] = t
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            time.sleep(0.5)
            stop.set()
            loop.join(15)
            worker.close()
            producer.close()
        finally:
            sim.terminate()
            sim.wait(10)
            client.close()
    ms = 1000.0
    print(
        f"{total:,} quotes at {args.rate:,}/s for {args.seconds:g}s; "
        f"{len(decided):,} decisions (ReplaceStop), {len(requested):,} order requests"
    )
    for name, values in (("XADD -> decision", decided), ("XADD -> order request", requested)):
        if values:
            print(
                f"{name:24s} p50 {statistics.median(values) * ms:.3f} ms   "
                f"p99 {pct(values, 0.99) * ms:.3f} ms   max {max(values) * ms:.3f} ms"
            )
    ok = requested and pct(requested, 0.99) < 0.002
    print(f"target p99 < 2 ms (to the order request): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
