"""Protection first when the budget is short: N unprotected positions, a rate budget, a worker.

A real worker (in-process: Redis, the simulator over HTTP, alpaca-py) starts on a book of N
positions with no stop and the broker's budget of `--limit` requests per `--window` seconds
(Alpaca's is 200 per 60 s; the default window is scaled to 6 s so a run takes about half a
minute, and the figures are given in the budget's own units). It prints how long until every
position has a stop resting at the broker, beside the floor the budget allows for the same
requests in the same run, and whether the most urgent tenth (`rules.protection_order`) was
protected first.

    .venv/bin/python benchmarks/bench_protection_first.py [--positions 1000] [--window 6]
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

import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from position_manager import redis_schema
from position_manager.cap_class import CapClass
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from rules.model import Position, Side
from rules.params import RuleParams
from rules.protection_order import urgency
from rules.stops import stop_and_target
from simulator import start_simulator
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker

CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def book(n: int, seed: int) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(symbol, qty, entry, mark): notionals over two orders of magnitude, marks from 2 % to
    40 % above the large-cap stop (8 % under the entry)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        entry = Decimal(rng.randrange(20, 400))
        qty = Decimal(rng.randrange(1, 200))
        mark = (entry * Decimal(0.92 + rng.uniform(0.02, 0.40))).quantize(Decimal("0.01"))
        out.append((f"P{i:04d}", qty, entry, mark))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=200, help="requests per window")
    parser.add_argument("--window", type=int, default=6, help="seconds (Alpaca: 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # 16 order threads, a pool of 10
    logging.getLogger("book.engine").setLevel(logging.ERROR)  # 1,000 "fallback stop" warnings
    tmp = Path(tempfile.mkdtemp())
    positions = book(args.positions, args.seed)
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        with start_simulator(
            lifecycle="instant",
            redis_url=server.url,
            rate_limit=args.limit,
            rate_window_seconds=args.window,
            clock_speed=0.0,
            clock_start=CLOCK,
        ) as sim:
            sim.simulator.seed_positions(
                [(s, q, e) for s, q, e, _ in positions], {s: m for s, _, _, m in positions}
            )
            settings = load_settings(redis_url=server.url, data_dir=tmp / "data")
            broker = build_broker(
                settings, base_url=sim.url, rate_limiter=RateLimiter(args.limit, args.window)
            )
            client.set(redis_schema.SESSION_KEY, "REGULAR")
            worker = Worker(settings, broker, client, consumer=ConsumerConfig(consumer="bench"))
            sim.simulator.reset_stats()
            started = time.perf_counter()
            worker.start(scan_timeout=args.positions / args.limit * args.window * 3 + 30)
            took = time.perf_counter() - started
            stops = [o for o in sim.simulator.engine.book.orders.values() if o.type == "stop"]
            requests = int(sim.simulator.stats.get("requests", 0))
            refused = int(sim.simulator.stats.get("rate_limited", 0))
            worker.close()
    protected = {o.symbol for o in stops}
    # The floor: the same requests at the budget's pace (the first window's worth at once).
    floor = max(requests - args.limit, 0) / args.limit * args.window
    nominal = args.positions / args.limit * args.window  # the "1,000 at 200/min = 5 min"
    params = RuleParams.from_settings(settings)
    ranks = {  # with no risk parameters published, every stop is planned at the fallback
        s: urgency(
            Position(symbol=s, quantity=q, entry_price=e, original_quantity=q,
                     position_key=f"{s}-l-0000000000"),
            m,
            stop_and_target(e, Side.LONG, CapClass.LARGE, None, params).stop_price,
        )
        for s, q, e, m in positions
    }  # fmt: skip
    tenth = max(1, args.positions // 10)
    most_urgent = set(sorted(ranks, key=lambda s: ranks[s])[:tenth])
    first_placed = {o.symbol for o in stops[:tenth]}
    in_order = len(most_urgent & first_placed) / tenth
    scale = 60 / args.window  # in Alpaca's minutes
    print(f"positions:              {args.positions:,} unprotected, budget {args.limit} per "
          f"{args.window} s")  # fmt: skip
    print(f"protected:              {len(protected):,} in {took:.1f} s "
          f"({took * scale / 60:.2f} min at Alpaca's 200/min scale)")  # fmt: skip
    print(f"requests:               {requests:,} (refused with 429: {refused})")
    print(f"floor for them:         {floor:.1f} s; nominal N/limit: {nominal:.1f} s")
    print(f"vs nominal:             {took / nominal:.2f}x (target <= 1.10)")
    print(f"most urgent tenth first: {in_order:.0%} of the first {tenth} stops")
    met = len(protected) == args.positions and took <= 1.10 * nominal
    write(
        args.json,
        [
            row(
                f"{args.positions:,} unprotected positions fully protected",
                took,
                "s",
                baseline=nominal,
                target=f"<= 1.1x N/limit ({nominal:.0f} s at {args.limit}/{args.window} s)",
                met=met,
                shown=f"{took:.1f} s ({len(protected):,} of {args.positions:,})",
            ),
            row(
                "most urgent tenth among the first stops placed",
                in_order * 100,
                "%",
                target=">= 90 %",
                met=in_order >= 0.9,
                shown=f"{in_order:.0%}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
