"""Fuzz the worker: the hostile corpus plus N hypothesis-generated entries through a real worker.

Starts a local redis-server and the simulator (realistic lifecycle), opens AAPL (100 @ 100) and
runs the worker step by step (tests/support/worker_harness.Harness, the harness the scenario
tests use). Then, in chunks, pushes
  1. every case of tests/fuzz/corpus/ on every stream it targets, each followed by a valid
     message on the same stream;
  2. N entries drawn from tests/fuzz/strategies.entries (any bytes, spoilt envelopes, numbers
     in every spelling) on the five consumed streams;
and lets the worker drain them. Prints, per source and in total: tried, dead-lettered, handled
(acked without a dead letter), crashed (an exception out of the worker's loop, or a message
left unacked because its handler failed: must be 0), and the corpus cases whose dead letter
lacks the expected reason (must be 0).

    .venv/bin/python benchmarks/fuzz.py [--random 2000] [--seed 11] [--chunk 500]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

# The corpus, the strategies and the harness are test code (hypothesis is a dev dependency).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from position_manager import events
from position_manager.config import load_settings
from position_manager.local_redis import RedisServer, free_port
from position_manager.redis_schema import text
from tests.fuzz.corpus import load_corpus
from tests.fuzz.strategies import consumed_streams, entries, valid_entry
from tests.support.simulator import worker_simulator
from tests.support.worker_harness import Harness, risk_params

GROUP = "pm-worker"


@dataclass
class Pushed:
    """What was put on the streams, by (stream, entry id)."""

    source: dict[tuple[str, str], str] = field(default_factory=dict)  # -> corpus/neighbour/random
    expected: dict[tuple[str, str], str] = field(default_factory=dict)  # corpus -> reason


def generate(n: int, at_seed: int) -> list[tuple[str, dict[bytes, bytes]]]:
    """N (stream, entry) pairs drawn by hypothesis (run as a property that only collects)."""
    drawn: list[tuple[str, dict[bytes, bytes]]] = []
    if n <= 0:
        return drawn

    @seed(at_seed)
    @settings(max_examples=n, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(stream=consumed_streams, data=st.data())
    def collect(stream: str, data: st.DataObject) -> None:
        drawn.append((stream, data.draw(entries(stream))))

    collect()
    return drawn


def push(client: redis.Redis, stream: str, fields: dict[bytes, bytes]) -> tuple[str, str]:
    entry_id = client.xadd(stream, cast(dict[Any, Any], fields))
    return stream, text(entry_id)


def drain(harness: Harness, timeout: float) -> int:
    """Let the worker handle what is pushed; an exception out of its loop is a crash."""
    try:
        harness.settle(timeout=timeout)
    except Exception as exc:  # the figure this script exists for: it must stay 0
        logging.getLogger("fuzz").error("worker loop crashed: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=2000, help="hypothesis-generated entries")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--chunk", type=int, default=500, help="entries pushed per drain")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # every dead letter logs a warning

    started = time.perf_counter()
    randoms = generate(args.random, args.seed)
    generated_in = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(port=free_port(), directory=Path(tmp) / "redis")
        server.start(appendonly=False)
        client = redis.Redis.from_url(server.url)
        try:
            with worker_simulator(server.url) as sim:
                cfg = load_settings(redis_url=server.url, data_dir=Path(tmp) / "data",
                                    simulator_port=free_port())  # fmt: skip
                harness = Harness(cfg, sim, client, server.url)
                try:
                    run(harness, randoms, args, generated_in)
                finally:
                    harness.close()
        finally:
            client.close()
            server.stop()


def run(
    harness: Harness,
    randoms: list[tuple[str, dict[bytes, bytes]]],
    args: argparse.Namespace,
    generated_in: float,
) -> None:
    client = harness.client
    risk_params(client, "AAPL", atr="1")
    harness.start()
    harness.approve("AAPL", "buy", 100, "100")
    harness.sim.simulator.feed_quote("MSFT", Decimal(400), Decimal(400), Decimal(400))

    pushed = Pushed()
    crashed = 0
    started = time.perf_counter()
    corpus = load_corpus()
    for i, case in enumerate(corpus):
        key = push(client, case.stream, case.fields)
        pushed.source[key] = "corpus"
        pushed.expected[key] = case.reason
        pushed.source[push(client, case.stream, valid_entry(case.stream))] = "neighbour"
        if i % args.chunk == args.chunk - 1:
            crashed += drain(harness, 120)
    crashed += drain(harness, 120)
    for i, (stream, fields) in enumerate(randoms):
        pushed.source[push(client, stream, fields)] = "random"
        if i % args.chunk == args.chunk - 1:
            crashed += drain(harness, 120)
    crashed += drain(harness, 120)
    elapsed = time.perf_counter() - started

    letters = {
        (text(f[b"source_stream"]), text(f[b"source_id"])): text(f[b"reason"])
        for _, f in client.xrange(events.DEAD_LETTER_STREAM) or []
        if f is not None
    }
    pending = {
        key
        for stream in events.CONSUMED_EVENTS
        for row in client.xpending_range(stream, GROUP, min="-", max="+", count=1_000_000)
        for key in [(stream, text(row["message_id"]))]
    }
    totals: dict[str, Counter[str]] = {}
    for key, source in pushed.source.items():
        outcome = "dead-lettered" if key in letters else "crashed" if key in pending else "handled"
        totals.setdefault(source, Counter())[outcome] += 1
    wrong_reason = sum(
        1 for key, want in pushed.expected.items() if want not in letters.get(key, "")
    )
    print(f"fuzz: corpus {len(corpus)} cases over the consumed streams + {len(randoms)} random "
          f"entries (hypothesis seed {args.seed}, generated in {generated_in:.1f} s)")  # fmt: skip
    print(f"{'source':<10} {'tried':>7} {'dead-lettered':>14} {'handled':>8} {'crashed':>8}")
    grand: Counter[str] = Counter()
    for source in ("corpus", "neighbour", "random"):
        counts = totals.get(source, Counter())
        grand.update(counts)
        tried = sum(counts.values())
        print(f"{source:<10} {tried:>7} {counts['dead-lettered']:>14} {counts['handled']:>8} "
              f"{counts['crashed']:>8}")  # fmt: skip
    print(f"{'total':<10} {sum(grand.values()):>7} {grand['dead-lettered']:>14} "
          f"{grand['handled']:>8} {grand['crashed'] + crashed:>8}")  # fmt: skip
    print(
        f"worker loop crashes: {crashed}; corpus cases without their reason: {wrong_reason}; "
        f"{sum(grand.values()) / elapsed:,.0f} messages/s through the worker ({elapsed:.1f} s)"
    )
    failed = (
        crashed
        or grand["crashed"]
        or wrong_reason
        or totals.get("neighbour", Counter())["dead-lettered"]
    )
    tried = sum(grand.values())
    down = grand["crashed"] + crashed
    write(args.json, [
        row(f"fuzz: worker crashes on {tried:,} hostile and generated entries", down, "crashes",
            target="0 (and every corpus case dead-lettered with its reason)", met=not failed,
            shown=f"{down} of {tried:,}"),
    ])  # fmt: skip
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
