"""The lease contract: one party changes a symbol's orders at a time.

The worker holds standing leases (`LeaseKeeper`) of the symbols it manages and checks them in
process before each order; an outside job (`SymbolLease`, the pipelines' reconciliation) can take
a symbol's lease only after the worker released it or it expired.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import redis
from redis.client import Pipeline

from book.executor import Job, OrderExecutor
from book.lease import LeaseKeeper, SymbolLease, lease_key
from position_manager import events
from position_manager.broker_types import OrderSide
from rules.decisions import PlaceStop
from tests.support.redis_reads import get_bytes
from tests.support.worker_harness import Harness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingClient(redis.Redis):
    """A redis client on the test client's connection pool that counts its pipelines (the round
    trips of the keeper's batched take / renew / release)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(connection_pool=client.connection_pool)
        self.round_trips = 0

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        self.round_trips += 1
        return super().pipeline(transaction, shard_hint)


def test_keeper_takes_renews_and_releases(redis_client: redis.Redis) -> None:
    clock = Clock()
    counting = CountingClient(redis_client)
    keeper = LeaseKeeper(counting, ttl_ms=15_000, clock=clock)
    keeper.maintain({"AAA", "BBB"})
    assert redis_client.get(lease_key("AAA")) == keeper.token.encode()
    assert keeper.holds("AAA") and keeper.holds("BBB")

    # the order path: an in-process check, no round trip while the lease has >= 1/3 TTL left
    trips = counting.round_trips
    assert keeper.verify("AAA")
    assert counting.round_trips == trips
    keeper.maintain({"AAA", "BBB"})  # nothing due yet
    assert counting.round_trips == trips

    # after a third of the TTL housekeeping renews (one round trip for every lease that is due)
    clock.now += 5.5
    keeper.maintain({"AAA", "BBB"})
    assert counting.round_trips == trips + 1
    assert 14_000 < int(redis_client.pttl(lease_key("AAA"))) <= 15_000

    # a symbol no longer managed is released; an outside job can then take it
    keeper.maintain({"AAA"})
    assert redis_client.get(lease_key("BBB")) is None
    outside = SymbolLease(redis_client, "BBB", owner="reconcile")
    assert outside.acquire()
    assert not SymbolLease(redis_client, "AAA", owner="reconcile").acquire()

    keeper.release_all()
    assert redis_client.get(lease_key("AAA")) is None
    assert redis_client.get(lease_key("BBB")) == outside.token.encode()  # never someone else's


def test_keeper_does_not_trust_a_lease_near_its_end(redis_client: redis.Redis) -> None:
    clock = Clock()
    keeper = LeaseKeeper(redis_client, ttl_ms=15_000, clock=clock)
    assert keeper.verify("AAA")  # not held yet: one round trip takes it
    clock.now += 10.5  # renewals stalled: less than a third of the TTL left by our own clock
    assert not keeper.holds("AAA")
    redis_client.delete(lease_key("AAA"))
    SymbolLease(redis_client, "AAA", owner="reconcile").acquire()  # someone else took it
    assert not keeper.verify("AAA")  # the round trip finds out: no order goes out
    assert not keeper.holds("AAA")


def test_job_under_someone_elses_lease_is_refused_and_retried(harness: Harness) -> None:
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    worker = harness.start()
    assert worker.leases.holds("AAPL")  # taken at start, held while the position is
    assert harness.client.get(lease_key("AAPL")) == worker.leases.token.encode()

    # an outside party cannot take it while the worker lives
    assert not SymbolLease(harness.client, "AAPL", owner="reconcile").acquire()

    # the worker stops: every lease is released before the heartbeat goes
    worker.release_leases()
    assert harness.client.keys("pm:lease:*") == []
    outside = SymbolLease(harness.client, "AAPL", owner="reconcile")
    assert outside.acquire()
    before = [(s.id, s.stop_price) for s in harness.stops("AAPL")]
    harness.quote("AAPL", 108)  # a trailing decision: the job meets the outside lease
    assert [(s.id, s.stop_price) for s in harness.stops("AAPL")] == before  # untouched
    assert worker.engine.retry.waiting("AAPL")
    outside.release()


def test_executor_without_keeper_takes_a_lease_per_job(harness: Harness) -> None:
    """The pipelines' path (no standing leases) is unchanged: take, act, release."""
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    seen: list[bytes | None] = []
    ex = OrderExecutor(
        harness.broker,
        harness.client,
        threads=1,
        lease_owner="reconcile",
        on_request=lambda job, action: seen.append(
            get_bytes(harness.client, lease_key(job.symbol))
        ),
    )
    stop = PlaceStop("AAPL", OrderSide.SELL, Decimal(100), Decimal(90), "t-stop-1", "missing")
    assert ex.submit(Job("AAPL", (stop,), "reconcile"))
    assert ex.wait_for_completion(10)
    (result,) = ex.completed()
    ex.shutdown()
    assert result.outcomes[0].ok
    assert seen and seen[0] is not None and seen[0].startswith(b"reconcile:")
    assert harness.client.get(lease_key("AAPL")) is None


def test_orders_leave_without_a_lease_round_trip(harness: Harness) -> None:
    """With the lease standing, nothing touches the lease key between decision and order."""
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    worker = harness.start()
    assert worker.leases.holds("AAPL")
    commands: list[str] = []
    watching = threading.Event()
    done = threading.Event()

    def monitor() -> None:
        with redis.Redis.from_url(harness.redis_url).monitor() as m:
            for command in m.listen():
                watching.set()
                text = str(command.get("command", ""))
                if "pm:lease:" in text:
                    commands.append(text)
                if done.is_set():
                    break

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    while not watching.wait(0.01):
        harness.client.ping()
    before = {s.id for s in harness.stops("AAPL")}
    harness.quote("AAPL", 108)  # a new high: the trailing stop is replaced
    assert {s.id for s in harness.stops("AAPL")}.isdisjoint(before)
    assert harness.events(events.POSITION_TRAILING_STOP_UPDATED)
    done.set()
    harness.client.ping()  # one more command so the monitor loop sees `done`
    watcher.join(5)
    assert commands == []


def _killed_between_the_stop_cancel_and_the_sale(harness: Harness) -> None:
    """A full exit cancels the stop, then sells: the worker dies between the two, leaving its
    standing leases behind (they live 15 s) and the position without a stop."""
    sim = harness.sim.simulator
    sim.seed_positions([("AAPL", Decimal(100), Decimal(100))], marks={"AAPL": Decimal(100)})
    harness.start()
    (stop,) = harness.stops("AAPL")
    harness.broker.cancel_order(stop.id)
    sim.engine.process_pending()  # the cancel lands
    assert harness.stops("AAPL") == []
    harness.kill()
    assert harness.client.get(lease_key("AAPL")) is not None  # the dead worker's, still live


def test_a_restarted_worker_takes_its_own_leases_back_at_once(harness: Harness) -> None:
    _killed_between_the_stop_cancel_and_the_sale(harness)
    worker = harness.start()  # the same worker name: the same owner
    assert [s.qty for s in harness.stops("AAPL")] == [100]  # placed during the start, not 15 s on
    assert harness.client.get(lease_key("AAPL")) == worker.leases.token.encode()
    assert not worker.engine.retry.waiting("AAPL")


def test_a_lease_of_another_live_owner_is_still_respected(harness: Harness) -> None:
    _killed_between_the_stop_cancel_and_the_sale(harness)
    harness.client.delete(lease_key("AAPL"))
    outside = SymbolLease(harness.client, "AAPL", owner="reconcile")
    assert outside.acquire()  # the reconciliation job acts on AAPL right now
    worker = harness.start()
    assert harness.stops("AAPL") == []  # the worker waits for it
    assert harness.client.get(lease_key("AAPL")) == outside.token.encode()
    assert worker.engine.retry.waiting("AAPL")
    outside.release()


def test_a_keeper_never_takes_a_lease_of_an_owner_whose_name_starts_like_its_own(
    redis_client: redis.Redis,
) -> None:
    other = LeaseKeeper(redis_client, owner="worker-a:b")  # ":" cannot make it look like ours
    other.maintain({"AAA"})
    mine = LeaseKeeper(redis_client, owner="worker-a")
    mine.maintain({"AAA"})
    assert not mine.holds("AAA")
    assert redis_client.get(lease_key("AAA")) == other.token.encode()
    again = LeaseKeeper(redis_client, owner="worker-a:b")  # the same owner, restarted
    assert again.verify("AAA")
    assert redis_client.get(lease_key("AAA")) == again.token.encode()
