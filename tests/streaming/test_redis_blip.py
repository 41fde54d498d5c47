"""Redis goes away under a running worker and comes back: no crash, no lost state, the position
keeps being managed (the stop trails after the blip), and what the broker did meanwhile is
caught up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from pipelines.history.jobs import ingest_all
from position_manager import events
from position_manager.config import Settings
from position_manager.local_redis import RedisServer, free_port
from tests.support.simulator import REGULAR_AT, worker_simulator
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params
from warehouse.connection import open_warehouse


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), directory=tmp_path / "redis").start(appendonly=True)
    yield server
    server.stop()


def test_worker_survives_a_redis_restart_and_keeps_trailing(
    settings: Settings, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streaming")
    url = own_redis.url
    with worker_simulator(url) as sim:
        client = redis.Redis.from_url(url)
        h = Harness(settings, sim, client, url)
        try:
            sim.simulator.seed_positions(
                [("AAPL", Decimal(100), Decimal(100))], {"AAPL": Decimal(100)}
            )
            risk_params(client, "AAPL", atr="1")
            worker = h.start()
            (stop,) = h.stops("AAPL")
            assert stop.stop_price == Decimal("92.00")
            state_before = h.state("AAPL")

            halt = threading.Event()
            loop = threading.Thread(target=worker.run, args=(halt,), daemon=True)
            loop.start()
            own_redis.stop()  # the blip: every Redis call of the loop now fails
            # The loop meets the outage: it must log it and go on, not die.
            wait_until(
                lambda: any("redis error" in r.getMessage() for r in caplog.records),
                15,
                "the loop never logged the redis error",
            )
            assert loop.is_alive()
            own_redis.start(appendonly=True)  # same port, same append-only file

            assert h.state("AAPL") == state_before  # nothing lost
            h.sim.simulator.feed_quote("AAPL", Decimal("109.99"), Decimal("110.01"), Decimal("110"))
            events.publish(
                client,
                events.QUOTE_UPDATED,
                {"symbol": "AAPL", "bid": "109.99", "ask": "110.01", "last": "110",
                 "timestamp": REGULAR_AT.isoformat()},
            )  # fmt: skip
            wait_until(
                lambda: [s.stop_price for s in h.stops("AAPL")] == [Decimal("104.50")],
                15,
                "the stop did not trail to 104.50 after the blip",
            )
            halt.set()
            loop.join(timeout=15)
            assert not loop.is_alive()
            assert h.state("AAPL")["stop_price"] == "104.50"
        finally:
            h.close()
            client.close()


def test_a_stop_filled_during_a_redis_outage_is_caught_up_when_redis_is_back(
    settings: Settings, own_redis: RedisServer, tmp_path: Path
) -> None:
    """While Redis is down the broker cannot publish its order updates (the simulator logs
    "could not publish"; Alpaca's bridge likewise) and nothing replays them: the worker asks
    the broker when Redis is back, by itself, and the history's P&L is the broker's."""
    url = own_redis.url
    with worker_simulator(url) as sim:
        client = redis.Redis.from_url(url)
        h = Harness(settings, sim, client, url)
        try:
            entry = Decimal(60)
            sim.simulator.seed_positions([("KO", Decimal(100), entry)], {"KO": entry})
            risk_params(client, "KO", atr="1")
            worker = h.start()
            h.settle()
            (stop,) = h.stops("KO")
            halt = threading.Event()
            loop = threading.Thread(target=worker.run, args=(halt,), daemon=True)
            loop.start()
            own_redis.stop()
            for _ in range(2):  # the stop elects, then fills: its update cannot be published
                sim.simulator.feed_quote("KO", Decimal("53.99"), Decimal("54.01"), Decimal(54))
            assert h.position_qty("KO") == 0
            own_redis.start(appendonly=True)
            published = [e for e in h.events(stream=events.ORDERS_STREAM)
                         if e["order_id"] == stop.id and e["status"] == "filled"]  # fmt: skip
            assert all(e.get("caught_up") for e in published)  # the simulator's never came
            wait_until(
                lambda: h.events(events.POSITION_CLOSED),
                20,
                "the worker never learnt of the stop filled during the outage",
            )
            halt.set()
            loop.join(timeout=15)
            (closed,) = h.events(events.POSITION_CLOSED)
            fill = sim.simulator.engine.book.fills[-1]
            assert fill.order_id == stop.id
            assert Decimal(closed["exit_price"]) == fill.price
            assert Decimal(closed["pnl"]) == (fill.price - entry) * 100
            with open_warehouse(tmp_path / "warehouse.duckdb") as conn:
                ingest_all(conn, client)
                rows = conn.execute("SELECT symbol, realized_pnl FROM closed_trades").fetchall()
            assert rows == [("KO", (fill.price - entry) * 100)]
        finally:
            h.close()
            client.close()
