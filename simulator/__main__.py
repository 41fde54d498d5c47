"""`python -m simulator`: serve the simulator until Ctrl-C.

Options mirror `SimulatorConfig`; e.g. a demo that resumes and trades the sample book:
    python -m simulator --port 8765 --snapshot data/simulator.json --redis-url redis://... \
        --consume-quotes --demo-book --clock-start 2025-03-03T14:25:00Z --clock-speed 60
It binds 127.0.0.1 unless `--host` says otherwise; `/sim/*` exists only with `--control`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import datetime
from pathlib import Path

from position_manager.logging import configure_logging, log_kv
from simulator.config import LIFECYCLES, SimulatorConfig
from simulator.server import start_simulator

log = logging.getLogger("simulator")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--snapshot", type=Path, default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--consume-quotes", action="store_true")
    parser.add_argument("--rate-limit", type=int, default=200)
    parser.add_argument("--clock-start", default=None, help="ISO time; default real time")
    parser.add_argument("--clock-speed", type=float, default=1.0)
    parser.add_argument("--demo-book", action="store_true", help="open SAMPLE_BOOK if empty")
    parser.add_argument(
        "--bar-universe",
        type=Path,
        default=None,
        help="a file of symbols (one a line) that get seeded daily bars besides the sample "
        "universe's; for benchmarks",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="serve the unauthenticated /sim/* control endpoints (quotes, clock, faults, seed, "
        "stats, reset); default PM_SIM_CONTROL, else off. For tests and benchmarks only",
    )
    parser.add_argument(
        "--lifecycle",
        choices=LIFECYCLES,
        default=None,
        help="order lifecycle: instant (unit tests only; not how Alpaca behaves) or realistic; "
        "default PM_SIM_LIFECYCLE, else instant",
    )
    args = parser.parse_args(argv)
    configure_logging()
    config = SimulatorConfig(
        snapshot_path=args.snapshot,
        redis_url=args.redis_url,
        consume_quotes=args.consume_quotes,
        rate_limit=args.rate_limit,
        clock_start=datetime.fromisoformat(args.clock_start) if args.clock_start else None,
        clock_speed=args.clock_speed,
        lifecycle=args.lifecycle,
        control_endpoints=True if args.control else None,
        bar_universe=_symbols(args.bar_universe),
    )
    handle = start_simulator(config, host=args.host, port=args.port)
    if args.demo_book and not handle.simulator.engine.book.positions:
        handle.simulator.seed_positions()
    log_kv(
        log,
        logging.INFO,
        "simulator serving",
        url=handle.url,
        session=handle.simulator.session().value,
    )
    print(handle.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    handle.stop()


def _symbols(path: Path | None) -> frozenset[str]:
    if path is None:
        return frozenset()
    return frozenset(line.strip().upper() for line in path.read_text().splitlines() if line.strip())


if __name__ == "__main__":
    main()
