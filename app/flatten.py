"""`position-manager flatten`: close every position, through the worker when it runs.

Without `--confirm` it only lists what would be closed. With it: a live worker (fresh heartbeat)
gets `command.flatten` and does it (it keeps at it until no position is left, across busy
symbols, dead exits and restarts); a worker that is down is not waited for: the positions are
closed here (`book.flatten`), on the broker's session date.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from book.broker_clock import broker_today
from book.flatten import flatten_itself
from book.health import worker_status
from broker.factory import build_broker
from position_manager import events
from position_manager.config import BrokerKind, Settings
from position_manager.local_redis import ensure_redis


def run_flatten(
    settings: Settings, *, confirm: bool, cause: str, echo: Callable[[str], None]
) -> int:
    url, server = ensure_redis(settings)
    sim = None
    try:
        client = redis.Redis.from_url(url)
        if settings.broker_kind is BrokerKind.SIMULATOR:
            from simulator.embedded import ensure_simulator

            sim_url, sim = ensure_simulator(settings, url)
            broker = build_broker(settings, base_url=sim_url, redis_url=url)
        else:
            broker = build_broker(settings, redis_url=url)
        held = [p for p in broker.list_positions() if p.qty != 0]
        if not held:
            echo("no position is held: nothing to flatten")
            return 0
        listing = ", ".join(f"{p.symbol} {p.qty.normalize():f}" for p in held)
        if not confirm:
            echo(f"would close {len(held)} positions: {listing}\nrun again with --confirm")
            return 2
        if worker_status(client).alive:
            events.publish(client, events.COMMAND_FLATTEN, {"cause": cause})
            echo(
                f"asked the worker to close {len(held)} positions ({listing}); it keeps at it "
                "until none is left: see position.flatten and position.closed on "
                f"{events.POSITIONS_STREAM}"
            )
            return 0
        report = flatten_itself(broker, client, settings, broker_today(client), cause)
        for symbol, client_id in report.sent.items():
            echo(f"{symbol}: exit sent ({client_id})")
        for symbol, why in report.skipped.items():
            echo(f"{symbol}: not sent: {why}")
        for symbol, error in report.errors.items():
            echo(f"{symbol}: failed: {error}")
        return 1 if report.errors or (report.skipped and not report.sent) else 0
    finally:
        if sim is not None:
            sim.stop()
        if server is not None:
            server.stop()
