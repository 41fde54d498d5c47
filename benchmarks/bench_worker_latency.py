"""Worker latency at 1,000 quotes/s: XADD -> decision, and XADD -> order request leaving.

A producer XADDs 1,000 quotes a second (10 % for the 20 held symbols, each one a new high that
tightens the trailing stop, so it yields a ReplaceStop decision unless that symbol's previous
replace is still in flight); the worker runs its normal blocking loop (`Worker.run`) in a thread
of this process, with the interpreter settings `run_worker` uses (`tune_interpreter`).

Where things run (2 cores are shared by all of them):
  - the producer is its own process by default (quotes come from another service; `--producer
    thread` puts it in the worker's process instead, competing for the GIL);
  - the Alpaca simulator is its own process, standing in for a remote broker. By default it is
    given the opening prices once (`--sim-feed api`) and then only answers orders: Alpaca runs on
    Alpaca's machines, not on the worker's two cores. `--sim-feed stream` makes it follow all
    1,000 quotes/s from Redis, as the embedded simulator does, and then its CPU competes with the
    worker's: that, not the GIL, is what lifts p99 over 2 ms in that mode (an experiment that
    moved order execution into its own process changed nothing: the time to build a request in
    alpaca-py/requests stayed the same, the contention is for the cores);
  - Redis is its own process.
Timestamps are `time.perf_counter()` (CLOCK_MONOTONIC on Linux: one clock for all processes).

Stages, per ReplaceStop decision:
  sent      the producer, just before XADD
  read      the worker's XREADGROUP returned the message
  decision  the engine made the job (Job.created)
  started   an executor thread starts the job's first broker call (lease verified); the old
            version of this benchmark stopped its clock here
  request   the HTTP request is handed to requests' `Session.send` (about to leave the process)
"XADD -> order request" ends at `request`: everything in our process up to the socket write,
including the adapter's own work before it (alpaca-py, requests), and nothing of the broker's
response time. Target: p99 < 2 ms. Each run starts from scratch (Redis,
simulator, positions); the summary pools all runs and lists each run's p99.

Samples: every run measures at least `--requests` order requests (1,000 by default), so its p99
is a percentile and not its maximum: a run lasts `--seconds` or as long as `--order-rate` needs
to cause that many, whichever is longer (at 3 orders/s, about six minutes). A run that still
measured fewer says so, and its p99 does not count as the target met.

Profiles (`--profile`): `alpaca` is Alpaca's own rate, 200 requests a minute (3.33 orders/s:
1,000 requests take about 5.5 minutes a run, 17 for three), `10x` ten times it (33.3 orders/s,
about 35 s a run). Time is not scaled: the quote rate, Redis and the broker stand-in run in real
time, so `alpaca` is the honest one and `10x` the quick one (busier: more jobs in flight at once).
Each run prints its p50 / p99 / max beside the machine's load average (`os.getloadavg`) at its
start and end, and the summary lists them run by run: on the shared 2-core machine the load
explains most of the spread.

    .venv/bin/python benchmarks/bench_worker_latency.py --profile alpaca     # 3 runs, ~17 min
    .venv/bin/python benchmarks/bench_worker_latency.py --profile 10x        # 3 runs, ~2 min
    .venv/bin/python benchmarks/bench_worker_latency.py [--seconds 10] [--rate 1000] [--runs 3]
        [--order-rate 100] [--requests 1000] [--limiter shared|local] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import redis
import requests

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from book.executor import Job
from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from broker.shared_rate_limit import shared_budget
from position_manager import events, redis_schema
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker, tune_interpreter

HELD = [f"H{chr(65 + i)}" for i in range(20)]
ALPACA_ORDERS_PER_S = 200 / 60  # Alpaca's 200 requests a minute
PROFILES = {"alpaca": ALPACA_ORDERS_PER_S, "10x": 10 * ALPACA_ORDERS_PER_S}
STAGES = ("sent", "read", "decision", "started", "request")
# Each new high is 0.12 above the last: the 5 % trail then tightens by 0.114, past
# MIN_STOP_ADJUSTMENT (0.10), so every high is one replace, and 1,000 requests move a symbol
# only 6 % (a smaller drift from the opening prices the stand-in broker starts with).
HIGH_STEP = 0.12
MARKS_EVERY_S = 1.0
TS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).isoformat()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the producer -------------------------------------------------------------------------------
def keep_marks(sim_url: str, price: dict[str, float], done: threading.Event) -> None:
    """The stand-in broker's own price for the held symbols, once a second (one small request,
    from the producer's process): a broker knows the market. Without it the stand-in kept the
    opening prices, and the worker's periodic catch-up (every 300 s) took the position's last
    price back to them; quotes more than QUOTE_CONFIRM_MOVE away were then confirmed against
    that stale price, refused as implausible, and a long run stopped measuring anything."""
    http = requests.Session()
    while not done.wait(MARKS_EVERY_S):
        quotes = [{"symbol": s, "bid": f"{p:.2f}", "ask": f"{p + 0.02:.2f}", "last": f"{p:.2f}",
                   "timestamp": TS} for s, p in list(price.items())]  # fmt: skip
        with contextlib.suppress(requests.RequestException):
            http.post(f"{sim_url}/sim/quotes", json=quotes, timeout=5)
    http.close()


def produce(
    client: redis.Redis,
    rate: int,
    seconds: float,
    record: Callable[[bytes, float], None],
    order_rate: float = 100.0,
    sim_url: str | None = None,
) -> int:
    """10 % of quotes are for held symbols (all evaluated by the rules); `order_rate` of them a
    second are new highs that tighten a trailing stop, i.e. become an order request. The new
    highs go to the held symbols in turn, so each symbol's next one comes `len(HELD)` highs
    later: at 20 orders/s each symbol has a second to finish its replace. (They used to follow
    the held quotes' own rotation, which put every high on 4 of the 20 symbols when the two
    periods shared a factor: replaces still in flight then swallowed most of the decisions.)"""
    rng = random.Random(3)
    price = dict.fromkeys(HELD, 100.0)
    interval = 1.0 / rate
    total = int(seconds * rate)
    every = max(1, round(rate / 10 / order_rate))
    highs = 0
    done = threading.Event()
    if sim_url is not None:
        threading.Thread(target=keep_marks, args=(sim_url, price, done), daemon=True).start()
    next_at = time.perf_counter()
    for i in range(total):
        if i % 10 == 0:
            if (i // 10) % every == 0:
                symbol = HELD[highs % len(HELD)]
                highs += 1
                price[symbol] += HIGH_STEP
            else:
                symbol = HELD[(i // 10) % len(HELD)]
            bid = price[symbol]
        else:
            symbol, bid = f"U{rng.randrange(4980):04d}", 50.0
        fields = events.encode_event(
            events.QUOTE_UPDATED,
            {"symbol": symbol, "bid": f"{bid:.2f}", "ask": f"{bid + 0.02:.2f}", "timestamp": TS},
        )
        t = time.perf_counter()
        msg_id = cast(bytes, client.xadd(events.QUOTES_STREAM, fields))  # type: ignore[arg-type]
        record(msg_id, t)
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    done.set()
    return total


def producer_process(
    url: str, rate: int, seconds: float, order_rate: float, sim_url: str | None
) -> None:
    """`--produce-to URL`: wait for a line on stdin, produce, then print `msg_id sent` lines."""
    client = redis.Redis.from_url(url)
    sent: list[tuple[bytes, float]] = []
    sys.stdin.readline()
    produce(client, rate, seconds, lambda msg_id, t: sent.append((msg_id, t)), order_rate,
            sim_url)  # fmt: skip
    sys.stdout.write("".join(f"{m.decode()} {t!r}\n" for m, t in sent))
    sys.stdout.flush()
    client.close()


def run_producer(url: str, args: argparse.Namespace, sim_url: str | None) -> dict[bytes, float]:
    if args.producer == "thread":
        sent: dict[bytes, float] = {}
        producer = redis.Redis.from_url(url)
        produce(producer, args.rate, args.seconds, sent.__setitem__, args.order_rate, sim_url)
        producer.close()
        return sent
    command = [sys.executable, __file__, "--produce-to", url, "--rate", str(args.rate)]
    command += ["--seconds", str(args.seconds), "--order-rate", str(args.order_rate)]
    command += ["--sim-url", sim_url] if sim_url else []
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate("go\n", timeout=args.seconds + 60)
    return {m.encode(): float(t) for m, t in (line.split() for line in out.splitlines())}


# --- setup ----------------------------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def _id(value: bytes | str) -> tuple[int, ...]:
    text = value.decode() if isinstance(value, bytes) else value
    return tuple(map(int, text.split("-")))


def group_caught_up(client: redis.Redis, group: str, last_id: bytes | str) -> bool:
    """The consumer group has been handed everything up to `last_id` and acked all of it."""
    for info in client.xinfo_groups(events.QUOTES_STREAM):  # type: ignore[union-attr]
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == group:
            delivered = _id(info["last-delivered-id"]) >= _id(last_id)
            return bool(delivered and info["pending"] == 0)
    return False


def open_positions(client: redis.Redis, broker: Any, sim_url: str | None) -> None:
    """100 shares of each held symbol, bought at 100 (the price given to the simulator through
    its quote stream, or its `/sim/quotes` control endpoint when `sim_url` is given)."""
    quotes = [{"symbol": s, "bid": "100", "ask": "100", "timestamp": TS} for s in HELD]
    if sim_url is not None:
        requests.post(f"{sim_url}/sim/quotes", json=quotes, timeout=10).raise_for_status()
    else:
        last = "0-0"
        for quote in quotes:
            last = events.publish(client, events.QUOTE_UPDATED, quote)
        # the simulator has the prices once its quote consumer has acked the last of them
        wait_for(lambda: group_caught_up(client, "simulator", last), "simulator quote feed")
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
    wait_for(lambda: len(broker.list_positions()) >= len(HELD), "positions did not open")
    # the startup scan should start from a clean order stream
    client.delete(events.ORDERS_STREAM)


# --- one run --------------------------------------------------------------------------------------
def one_run(args: argparse.Namespace) -> tuple[list[dict[str, float]], int]:
    """Returns each decision's stage times, and how many quotes were sent."""
    jobs: list[Job] = []
    current = threading.local()

    def on_job(job: Job) -> None:
        if job.cause == "quote" and job.acks:
            jobs.append(job)

    def on_request(job: Job, action: Any) -> None:
        if "started" not in job.context:
            job.context["started"] = time.perf_counter()
        current.job = job

    tmp = Path(tempfile.mkdtemp())
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        sim = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--redis-url", server.url]
            + (["--consume-quotes"] if args.sim_feed == "stream" else ["--control"])
            # Instant lifecycle: the stand-in's own lifecycle work is not what is measured. Its
            # clock runs (from a regular-session morning): with a frozen one, the worker's
            # periodic catch-up (every 300 s) counted the opening buys' fills a second time.
            + ["--lifecycle", "instant", "--rate-limit", "1000000", "--clock-speed", "1"]
            + ["--clock-start", "2026-11-24T15:00:00+00:00"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        stop = threading.Event()
        try:
            assert sim.stdout is not None
            url = sim.stdout.readline().strip()
            # The budget the worker really uses: the key's shared one in Redis (one EVALSHA per
            # request), at the highest limit the settings allow; `--limiter local` for the
            # in-process window it replaced.
            settings = load_settings(
                redis_url=server.url, data_dir=tmp / "data", alpaca_rate_limit_per_minute=10_000
            )
            local = RateLimiter(1_000_000, 60) if args.limiter == "local" else None
            broker = build_broker(settings, base_url=url, redis_url=server.url, rate_limiter=local)
            open_positions(client, broker, url if args.sim_feed == "api" else None)
            client.set(redis_schema.SESSION_KEY, "REGULAR")
            worker = Worker(
                settings,
                broker,
                client,
                on_job=on_job,
                on_request=on_request,
                consumer=ConsumerConfig(consumer="bench"),
            )
            read_at: dict[bytes, float] = {}
            plain_read = worker.consumer.read

            def timed_read(block_ms: int | None = None, streams: Any = None) -> list[Any]:
                out = plain_read(block_ms, streams)
                t = time.perf_counter()
                for message in out:
                    read_at[message[1]] = t
                return out

            worker.consumer.read = timed_read  # type: ignore[method-assign]
            # "about to leave": requests hands the prepared request to its transport here
            session = broker._session
            plain_send = session.send

            def timed_send(request: Any, **kwargs: Any) -> Any:
                job = getattr(current, "job", None)
                if job is not None:
                    current.job = None
                    job.context.setdefault("request", time.perf_counter())
                return plain_send(request, **kwargs)

            session.send = timed_send  # type: ignore[method-assign]
            worker.start()
            jobs.clear()
            tune_interpreter(args.switch_interval)
            loop = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            loop.start()
            sent = run_producer(server.url, args, url if args.sim_feed == "api" else None)
            last = max(sent, key=_id)
            wait_for(lambda: group_caught_up(client, "pm-worker", last), "worker caught up", 30)
            stop.set()
            loop.join(15)
            worker.close()
        finally:
            sys.setswitchinterval(0.005)
            sim.terminate()
            sim.wait(10)
            client.close()
    rows = []
    for job in jobs:
        msg_id = job.acks[0][1]
        if msg_id not in sent or "request" not in job.context:
            continue
        rows.append(
            {
                "sent": sent[msg_id],
                "read": read_at[msg_id],
                "decision": job.created,
                "started": job.context["started"],
                "request": job.context["request"],
            }
        )
    return rows, len(sent)


def limiter_cost(calls: int = 5_000) -> str:
    """One `try_acquire()` alone, shared (an EVALSHA to a local Redis) vs in-process."""
    tmp = Path(tempfile.mkdtemp())
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        shared = shared_budget(server.url, "bench-key", 10_000_000)
        local = RateLimiter(10_000_000, 60)
        out = []
        for name, limiter in (("shared", shared), ("in-process", local)):
            took = []
            for _ in range(calls):
                t = time.perf_counter()
                limiter.try_acquire()
                took.append(time.perf_counter() - t)
            us = 1_000_000.0
            out.append(f"{name} p50 {pct(took, 0.5) * us:.0f} us p99 {pct(took, 0.99) * us:.0f} us")
        shared.close()
    return f"try_acquire() alone, {calls:,} calls: " + "; ".join(out)


def line(name: str, values: list[float]) -> str:
    ms = 1000.0
    return (
        f"  {name:26s} p50 {statistics.median(values) * ms:6.3f} ms   "
        f"p99 {pct(values, 0.99) * ms:6.3f} ms   max {max(values) * ms:6.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--order-rate",
        type=float,
        default=100.0,
        help="orders/s the quotes cause (100: stress, 30x Alpaca's 200 requests/minute; "
        "3: what Alpaca allows)",
    )
    parser.add_argument("--producer", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="GIL switch interval for the worker's process (default: the worker's own)",
    )
    parser.add_argument(
        "--sim-feed",
        choices=("stream", "api"),
        default="api",
        help="how the simulator learns prices: given the opening prices once (`/sim/quotes`, "
        "like a remote broker it spends no CPU on our feed), or following the quote stream as "
        "the embedded simulator does (its CPU then competes with the worker's)",
    )
    parser.add_argument(
        "--limiter",
        choices=("shared", "local"),
        default="shared",
        help="the API key's budget shared through Redis (what the worker uses), or the "
        "in-process window (no round trip)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="order requests each run must measure (its length grows to cause them)",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help="alpaca: 3.33 orders/s (Alpaca's 200/minute, ~5.5 min a run); 10x: 33.3 orders/s "
        "(~35 s a run); sets --order-rate (each run still measures --requests)",
    )
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--produce-to", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sim-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce_to:
        producer_process(args.produce_to, args.rate, args.seconds, args.order_rate, args.sim_url)
        return
    if args.profile is not None:
        args.order_rate = PROFILES[args.profile]
    # Each new high causes at most one order request (none while that symbol's previous replace
    # is in flight): 10 % more time than the count needs at the order rate.
    args.seconds = max(args.seconds, 1.1 * args.requests / args.order_rate)
    logging.basicConfig(level=logging.WARNING)
    pooled: list[dict[str, float]] = []
    p99s: list[float] = []
    short = 0
    counts: list[int] = []
    per_run: list[str] = []
    for n in range(1, args.runs + 1):
        load_before = os.getloadavg()[0]
        rows, total = one_run(args)
        load_after = os.getloadavg()[0]
        pooled += rows
        counts.append(len(rows))
        totals = [r["request"] - r["sent"] for r in rows]
        p99s.append(pct(totals, 0.99))
        delivery = [r["read"] - r["sent"] for r in rows]
        per_run.append(
            f"  run {n}: {len(rows):,} requests at {args.order_rate:.3g} orders/s: "
            f"p50 {statistics.median(totals) * 1000:.2f} ms, "
            f"p99 {pct(totals, 0.99) * 1000:.2f} ms, "
            f"max {max(totals) * 1000:.2f} ms (XADD -> read alone p99 "
            f"{pct(delivery, 0.99) * 1000:.2f} ms); load average {load_before:.2f} -> "
            f"{load_after:.2f}"
        )
        print(
            f"run {n}: {total:,} quotes at {args.rate:,}/s ({args.producer} producer), "
            f"{len(rows):,} order requests in {args.seconds:.0f} s; load average "
            f"{load_before:.2f} -> {load_after:.2f}"
        )
        if len(rows) < args.requests:
            short += 1
            print(f"  only {len(rows):,} order requests (< {args.requests:,}): this run's p99 is "
                  "not a percentile worth the name")  # fmt: skip
        print(line("XADD -> decision", [r["decision"] - r["sent"] for r in rows]))
        print(line("XADD -> broker call starts", [r["started"] - r["sent"] for r in rows]))
        print(line("XADD -> order request", totals))
    print(f"all {args.runs} runs, {len(pooled):,} order requests; stages:")
    for a, b in itertools.pairwise(STAGES):
        print(line(f"{a} -> {b}", [r[b] - r[a] for r in pooled]))
    print(line("XADD -> decision", [r["decision"] - r["sent"] for r in pooled]))
    print(line("XADD -> broker call starts", [r["started"] - r["sent"] for r in pooled]))
    print(line("XADD -> order request", [r["request"] - r["sent"] for r in pooled]))
    print(limiter_cost())
    print(
        "XADD -> order request, run by run, beside the machine's 1-minute load average "
        f"({os.cpu_count()} cores):"
    )
    print("\n".join(per_run))
    worst = max(p99s)
    met = worst < 0.002 and not short
    print(
        f"p99 XADD -> order request per run: {', '.join(f'{p * 1000:.3f}' for p in p99s)} ms; "
        f"target p99 < 2 ms in every run: {'met' if met else 'NOT met'}"
    )
    transport = pct([r["read"] - r["sent"] for r in pooled], 0.99)
    fewest = min(counts)
    write(args.json, [
        row(f"XADD -> order request p99, worst of {args.runs} run(s), >= {args.requests:,} "
            f"requests each at {args.order_rate:.3g} orders/s", worst * 1000, "ms",
            baseline=transport * 1000, target="< 2 ms (baseline: XADD -> read, Redis alone)",
            met=met, shown=f"{worst * 1000:.2f} ms ({fewest:,}+ samples/run)"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
