"""`python -m app.worker`: run the worker until SIGTERM/SIGINT (then finish the batch, ack, exit 0).

With no Alpaca keys it starts the embedded Alpaca simulator (fed from the same quote stream) and
a calendar/clock session publisher; with keys it also runs the Alpaca quote and trade-update
bridges for the held symbols plus WATCHLIST. With ALERT_URLS it also runs the alert notifier on a
thread of its own (`streaming.notify`).

`--session-interval SECONDS` (default 15) is how often the session is read from the broker's
clock: `position-manager up` asks for less when the simulated clock runs fast, so the open and
the close are seen within a simulated minute or two.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

import redis

from broker.factory import build_broker
from position_manager.config import BrokerKind, load_settings
from position_manager.errors import ConfigError, PositionManagerError
from position_manager.local_redis import ensure_redis
from position_manager.logging import configure_logging, log_kv
from simulator.embedded import ensure_simulator
from streaming.notify.notifier import build_notifier, notifier_name
from streaming.session_publisher import SessionPublisher
from streaming.worker import run_worker

log = logging.getLogger("app.worker")


def main(session_interval: float = 15.0) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        url, server = ensure_redis(settings)
    except PositionManagerError as exc:  # e.g. RedisAuthError: says what, never the password
        log_kv(log, logging.ERROR, "worker failed", error=str(exc))
        return 1
    client = redis.Redis.from_url(url)
    started: list[Any] = []
    try:
        if settings.broker_kind is BrokerKind.SIMULATOR:
            sim_url, sim = ensure_simulator(settings, url)
            if sim is not None:
                started.append(sim)
            broker = build_broker(settings, base_url=sim_url, redis_url=url)
        else:
            broker = build_broker(settings, redis_url=url)
            started += _bridges(settings, client, broker)
        started.append(SessionPublisher(client, broker, interval=session_interval).start())
        notifier = build_notifier(settings, url, consumer_name=notifier_name("worker"))
        if notifier is not None:  # ALERT_URLS: alerts reach a person, off the quote loop
            started.append(notifier.start())
        run_worker(settings, broker, url, stop)
        log_kv(log, logging.INFO, "worker stopped")
        return 0
    except PositionManagerError as exc:
        log_kv(log, logging.ERROR, "worker failed", error=str(exc))
        return 1
    finally:
        for thing in reversed(started):
            thing.stop()
        client.close()
        if server is not None:
            server.stop()


def _bridges(settings: Any, client: redis.Redis, broker: Any) -> list[Any]:
    from streaming.bridges.follow import QuoteFollower
    from streaming.bridges.market_data import QuoteBridge
    from streaming.bridges.trade_updates import TradeUpdateBridge

    key = settings.alpaca_api_key.get_secret_value()
    secret = settings.alpaca_secret_key.get_secret_value()
    symbols = {p.symbol for p in broker.list_positions()} | set(settings.watchlist)
    out: list[Any] = [TradeUpdateBridge(client, key, secret, paper=settings.alpaca_paper).start()]
    follower = QuoteFollower(
        client,
        lambda held: QuoteBridge(client, key, secret, held, feed=settings.alpaca_data_feed),
        watchlist=settings.watchlist,
        initial=symbols,
    )
    out.append(follower.start())
    return out


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.worker")
    parser.add_argument("--session-interval", type=float, default=15.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(_args(sys.argv[1:]).session_interval))
