"""List 5,000 open orders and 1,000 positions through the adapter against the simulator.

Prints wall time and HTTP requests (counted by the simulator) for the adapter's paged listing,
and for a naive one-request-per-order baseline measured on a sample and extrapolated (at Alpaca's
200 requests/minute the naive way would also spend minutes waiting for budget).

    .venv/bin/python benchmarks/bench_broker_listing.py [--orders 5000] [--positions 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sized
from datetime import UTC, datetime
from decimal import Decimal

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from broker.alpaca_adapter import AlpacaBroker
from broker.rate_limit import RateLimiter
from simulator import start_simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    per_position = max(1, -(-args.orders // args.positions))

    with start_simulator(
        # The stand-in's own lifecycle work is not what is measured here.
        lifecycle="instant",
        clock_start=datetime(2025, 3, 3, 15, 0, tzinfo=UTC),
        clock_speed=0,
        rate_limit=10**9,
    ) as handle:
        sim = handle.simulator
        symbols = [f"B{i:04d}" for i in range(args.positions)]
        sim.seed_positions([(s, Decimal(100), Decimal("20")) for s in symbols])
        started = time.perf_counter()
        made = 0
        for i in range(args.orders):
            sim.engine.submit(
                {
                    "symbol": symbols[i // per_position],
                    "qty": "1",
                    "side": "sell",
                    "type": "limit",
                    "limit_price": f"{30 + i % per_position}",
                    "time_in_force": "gtc",
                    "client_order_id": f"bench-{i}",
                }
            )
            made += 1
        seeded = time.perf_counter() - started
        broker = AlpacaBroker(
            handle.api_key,
            handle.secret_key,
            base_url=handle.url,
            data_url=handle.url,
            rate_limiter=RateLimiter(10**9, 60),
        )

        def measure(action: Callable[[], Sized]) -> tuple[float, int, int]:
            sim.reset_stats()
            t0 = time.perf_counter()
            count = len(action())
            elapsed = time.perf_counter() - t0
            return elapsed, sim.request_count, count

        orders_s, orders_req, n_orders = measure(broker.list_open_orders)
        pos_s, pos_req, n_pos = measure(broker.list_positions)
        ids = [o.id for o in broker.list_open_orders()][: args.naive_sample]
        naive_s, naive_req, _ = measure(lambda: [broker.get_order(i) for i in ids])

    per_order = naive_s / max(len(ids), 1)
    print(f"seeded {made} orders on {args.positions} positions in {seeded:.2f}s (in-process)")
    print(f"{'what':<38}{'items':>8}{'requests':>10}{'seconds':>10}")
    print(f"{'open orders, paged (500/page)':<38}{n_orders:>8}{orders_req:>10}{orders_s:>10.3f}")
    print(f"{'positions (one request)':<38}{n_pos:>8}{pos_req:>10}{pos_s:>10.3f}")
    print(f"{'naive GET per order (sample)':<38}{len(ids):>8}{naive_req:>10}{naive_s:>10.3f}")
    print(
        f"{'naive, extrapolated to all orders':<38}{n_orders:>8}{n_orders:>10}"
        f"{per_order * n_orders:>10.3f}"
        f"   (+{n_orders / 200:.0f} min of rate-limit budget at 200/min)"
    )
    pages = -(-n_orders // 500)
    write(args.json, [
        row(f"open orders listed ({n_orders:,}): requests", orders_req, "requests",
            baseline=n_orders, target=f"<= {pages + 1} (500 a page)",
            met=orders_req <= pages + 1),
        row(f"open orders listed ({n_orders:,}): time", orders_s, "s",
            baseline=per_order * n_orders, target="faster than one request per order",
            met=orders_s < per_order * n_orders),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
