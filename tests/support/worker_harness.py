"""Scenario harness: a real redis-server, the Alpaca simulator over HTTP, the real alpaca-py SDK
(through `AlpacaBroker`) and the worker run step by step — no stub broker, no sleep-and-hope.

Used by tests/book, tests/streaming and the pipelines' job tests; the `harness` fixture (on
`tests.support.simulator.worker_simulator`) is in tests/conftest.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis

from broker.factory import build_broker
from broker.rate_limit import RateLimiter
from broker.resilience import ResiliencePolicy
from position_manager import events, redis_schema
from position_manager.broker_types import BrokerOrder
from position_manager.config import Settings
from position_manager.events import publish
from simulator import SimulatorHandle
from streaming.consumer import ConsumerConfig
from streaming.worker import Worker
from tests.support.redis_reads import event_data, hash_text, stream_text


def risk_params(client: redis.Redis, symbol: str, **fields: Any) -> None:
    base = {"symbol": symbol, "cap_class": "large", "atr": "4", "next_report_date": ""}
    base.update({k: str(v) for k, v in fields.items()})
    client.hset(
        redis_schema.RISK_PARAMS_KEY.format(symbol=symbol), mapping=redis_schema.redis_fields(base)
    )


class Harness:
    def __init__(
        self, settings: Settings, sim: SimulatorHandle, client: redis.Redis, redis_url: str
    ) -> None:
        self.settings = settings
        self.sim = sim
        self.client = client
        self.redis_url = redis_url
        self.broker = self.new_broker()
        self.worker: Worker | None = None
        self._n = 0

    def new_broker(self) -> Any:
        return build_broker(
            self.settings,
            base_url=self.sim.url,
            rate_limiter=RateLimiter(100_000, 60),
            policy=ResiliencePolicy(retry_attempts=1, request_timeout=5.0),
        )

    def start(self, session: str = "REGULAR", **kwargs: Any) -> Worker:
        self.client.set(redis_schema.SESSION_KEY, session)
        cfg = ConsumerConfig(consumer="test-worker", block_ms=0, claim_idle_ms=60_000)
        self.worker = Worker(self.settings, self.broker, self.client, consumer=cfg, **kwargs)
        self.worker.start(scan_timeout=10)
        return self.worker

    # --- driving ------------------------------------------------------------------------------
    def settle(self, timeout: float = 10.0) -> None:
        """Run the loop until no message is left and no order job is in flight."""
        assert self.worker is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            read = self.worker.process_batch(block_ms=0)
            idle = self.worker.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
            assert idle
            # one more pass: applying results may have released deferred messages
            if (
                read == 0
                and not self.worker.executor.in_flight
                and not self._backlog()
                and self.worker.process_batch(block_ms=0) == 0
                and not self.worker.executor.in_flight
            ):
                return
        raise AssertionError("worker did not settle")

    def _backlog(self) -> bool:
        assert self.worker is not None
        return self.worker.dispatch.deferred > 0

    def quote(
        self,
        symbol: str,
        price: object,
        *,
        spread: str = "0.01",
        settle: bool = True,
        broker_sees: bool = True,
        forged: bool = False,
    ) -> None:
        """A quote through Redis to the worker. With `broker_sees` the simulator gets it first
        and fills whatever it crosses; without, the worker reads a price the broker has not
        acted on yet (a real broker fills later), so a limit at it rests unfilled, though the
        data feed printed it. `forged`: only the Redis stream has it, the market never traded
        there (a quote written by someone else)."""
        p = Decimal(str(price))
        bid, ask = p - Decimal(spread), p + Decimal(spread)
        if forged:
            pass
        elif broker_sees:
            self.sim.simulator.feed_quote(symbol, bid, ask, p)
        else:
            self.sim.simulator.latest_trades.record(symbol, p, self.sim.simulator.clock.now())
        publish(
            self.client,
            events.QUOTE_UPDATED,
            {
                "symbol": symbol,
                "bid": str(bid),
                "ask": str(ask),
                "last": str(p),
                "timestamp": datetime.now(UTC).isoformat(),
            },
        )
        if settle:
            self.settle()

    def broker_step(self) -> None:
        """The broker's next step: requests that are due land (a cancel, a replace), and their
        updates go out; then the worker reads them."""
        self.sim.simulator.engine.process_pending()
        self.settle()

    def approve(self, symbol: str, side: str, qty: int, price: object) -> None:
        """A trade approved at `price`: the entry market order fills there."""
        p = Decimal(str(price))
        self.sim.simulator.feed_quote(symbol, p, p, p)
        self._n += 1
        publish(
            self.client,
            events.TRADE_APPROVED,
            {"symbol": symbol, "side": side, "qty": str(qty), "approval_id": f"ap{self._n}"},
        )
        self.settle()
        self.settle()

    # --- looking ------------------------------------------------------------------------------
    def events(
        self, name: str | None = None, stream: str = events.POSITIONS_STREAM
    ) -> list[dict[str, Any]]:
        return event_data(self.client, name, stream)

    def open_orders(self, symbol: str | None = None) -> list[BrokerOrder]:
        return [o for o in self.broker.list_open_orders() if symbol is None or o.symbol == symbol]

    def stops(self, symbol: str) -> list[BrokerOrder]:
        return [o for o in self.open_orders(symbol) if o.kind.is_stop]

    def position_qty(self, symbol: str) -> Decimal:
        pos = self.broker.get_position(symbol)
        return pos.qty if pos else Decimal(0)

    def state(self, symbol: str) -> dict[str, str]:
        return hash_text(self.client, redis_schema.POSITION_STATE_KEY.format(symbol=symbol))

    def dead_letters(self) -> list[dict[str, Any]]:
        return stream_text(self.client, events.DEAD_LETTER_STREAM)

    def kill(self) -> None:
        """The worker process dies: its threads stop, nothing is released (leases, heartbeat,
        unacked messages stay as a crash leaves them); the next `start` is a new process with a
        new broker client and the same consumer name."""
        assert self.worker is not None
        self.worker.executor.shutdown()
        self.worker = None
        self.broker = self.new_broker()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


class Killed(BaseException):
    """The worker process died, raised from inside its commit (not an Exception: nothing in the
    worker may catch it)."""


def die_before_writing(harness: Harness, monkeypatch: Any, event_name: str) -> None:
    """The worker's next commit that carries `event_name` raises `Killed` before anything of it
    is written or acked: the broker took the order, the worker died before recording it."""
    worker = harness.worker
    assert worker is not None
    real_commit = worker.store.commit

    def commit(changes: Any) -> None:
        if any(name == event_name for name, _ in changes.events):
            raise Killed
        real_commit(changes)

    monkeypatch.setattr(worker.store, "commit", commit)
