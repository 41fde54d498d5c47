"""Events are stamped with the broker's time: a frozen simulated clock, a fast one, the real one
(`book.broker_clock`), never the host's date, never backwards, never two alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import redis

from book.broker_clock import BrokerClock, ClockReading, next_reading, read_clock, record_clock
from book.state import Changes, StateStore
from position_manager import events
from streaming.session_publisher import SessionPublisher
from tests.support.redis_reads import read_events
from tests.support.simulator import REGULAR_AT
from tests.support.worker_harness import Harness

HOST = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # the host's day is the next one


class Wall:
    def __init__(self) -> None:
        self.at = HOST

    def __call__(self) -> datetime:
        return self.at


def test_without_a_reading_the_host_time_is_used() -> None:
    wall = Wall()
    assert BrokerClock(wall).now() == HOST


def test_a_frozen_clock_stamps_its_time_strictly_increasing() -> None:
    wall = Wall()
    clock = BrokerClock(wall)
    first = next_reading(None, REGULAR_AT, HOST)
    wall.at = HOST + timedelta(seconds=15)
    clock.observe(next_reading(first, REGULAR_AT, wall.at))  # the broker did not move: rate 0
    wall.at += timedelta(seconds=30)
    stamps = [clock.now() for _ in range(3)]
    assert stamps[0] == REGULAR_AT
    assert stamps == sorted(set(stamps))  # never two alike, never backwards
    assert stamps[-1] - stamps[0] < timedelta(milliseconds=1)


def test_a_fast_clock_is_carried_forward_at_its_measured_rate() -> None:
    wall = Wall()
    clock = BrokerClock(wall)
    first = next_reading(None, REGULAR_AT, HOST)
    second = next_reading(first, REGULAR_AT + timedelta(minutes=15), HOST + timedelta(seconds=15))
    assert second.rate == 60.0
    clock.observe(second)
    wall.at = HOST + timedelta(seconds=25)
    assert clock.now() == REGULAR_AT + timedelta(minutes=25)
    assert clock.today() == date(2026, 11, 24)  # New York's date of the broker's time


def test_an_older_reading_does_not_replace_a_newer_one_and_time_never_goes_back() -> None:
    wall = Wall()
    clock = BrokerClock(wall)
    clock.observe(ClockReading(REGULAR_AT, HOST))
    wall.at = HOST + timedelta(seconds=10)
    before = clock.now()
    clock.observe(ClockReading(REGULAR_AT - timedelta(hours=1), HOST - timedelta(seconds=5)))
    assert clock.now() > before
    clock.observe(ClockReading(REGULAR_AT - timedelta(hours=1), wall.at))  # newer, yet earlier
    assert clock.now() > before


def test_a_wrong_rate_is_capped_and_an_unreadable_record_is_no_reading() -> None:
    first = ClockReading(REGULAR_AT, HOST)
    jump = next_reading(first, REGULAR_AT + timedelta(days=365), HOST + timedelta(seconds=1))
    assert jump.rate == 1000.0
    back = next_reading(first, REGULAR_AT - timedelta(days=1), HOST + timedelta(seconds=2))
    assert back.rate == 0.0
    assert ClockReading.from_fields({"broker": "yesterday", "host": HOST.isoformat()}) is None
    assert ClockReading.from_fields({"broker": "2026-11-24T15:00:00", "host": "x"}) is None
    fields = first.to_fields() | {"rate": "nan"}
    assert ClockReading.from_fields(fields) is None


def test_the_record_survives_redis_and_a_missing_one_reads_as_none(
    redis_client: redis.Redis,
) -> None:
    assert read_clock(redis_client) is None
    reading = ClockReading(REGULAR_AT, HOST, 60.0)
    record_clock(redis_client, reading)
    assert read_clock(redis_client) == reading


def test_the_workers_events_carry_the_simulated_session_date(harness: Harness) -> None:
    """The simulator's clock is frozen on Tuesday 24 November 2026 while the host's is later:
    the startup scan's stop and a trail are stamped on the 24th, in order."""
    SessionPublisher(harness.client, harness.broker).publish_if_changed()
    harness.sim.simulator.seed_positions([("KO", Decimal(100), Decimal(60))], {"KO": Decimal(60)})
    harness.start()
    harness.settle()
    harness.quote("KO", "70")
    stamped = [
        e
        for e in read_events(harness.client, events.POSITIONS_STREAM)
        if e.event in (events.POSITION_STOP_SET, events.POSITION_TRAILING_STOP_UPDATED)
    ]
    assert [e.event for e in stamped] == [
        events.POSITION_STOP_SET,
        events.POSITION_TRAILING_STOP_UPDATED,
    ]
    assert {e.ts.date() for e in stamped} == {REGULAR_AT.date()}
    assert stamped[0].ts < stamped[1].ts
    assert datetime.now(UTC) - stamped[1].ts > timedelta(days=1)


def test_a_store_without_a_record_stamps_the_host_time(redis_client: redis.Redis) -> None:
    store = StateStore(redis_client, "g")
    store.refresh_clock()
    changes = Changes()
    changes.emit(events.POSITION_ERROR, {"symbol": "KO", "error_type": "x", "message": "m"})
    store.commit(changes)
    (event,) = read_events(redis_client, events.POSITIONS_STREAM)
    assert abs(event.ts - datetime.now(UTC)) < timedelta(minutes=1)
