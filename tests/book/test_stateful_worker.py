"""A stateful property test: the real worker (real Redis, the real adapter over HTTP, the real
simulator) driven through random interleavings of quotes the broker sees or does not see yet,
hand cancels, broker faults (429, 5xx, 4xx), session changes with DAY expiries, and restarts.
After every step the invariants in `tests.book.invariants` are checked against the simulator's
own book and the event streams.

CI runs a bounded profile; `PM_STATEFUL_EXAMPLES=200 PM_STATEFUL_STEPS=40` runs a long one,
`PM_STATEFUL_RANDOM=1` a new random one each run, `PM_STATEFUL_PARTIAL_FILLS=N` fills at most N
shares per quote on the realistic machine (30 by default, 0 for whole fills).
Two machines: one on the simulator's instant mode (each window opened by a rule), one on its
realistic lifecycle (accepted, then filled by a later quote; pending cancels and replaces).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from app.chaos.observe import order_views
from book.state import Changes
from broker.errors import OrderRejectedError
from position_manager.config import Settings
from position_manager.session import Session
from simulator import start_simulator
from simulator.config import EngineConfig, SimulatorConfig
from tests.book import invariants as inv
from tests.support.simulator import REGULAR_AT
from tests.support.worker_harness import Harness, risk_params

SYMBOLS = ("AAPL", "TSLA")  # a long and a short
EXAMPLES = int(os.environ.get("PM_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("PM_STATEFUL_STEPS", "15"))
PARTIAL_FILLS = int(os.environ.get("PM_STATEFUL_PARTIAL_FILLS", "30"))


class WorkerMachine(RuleBasedStateMachine):
    """On the instant simulator with a frozen clock: every window is opened by a rule."""

    lifecycle: Literal["instant", "realistic"] = "instant"
    latency_s = 0.0  # simulated seconds from a request to its landing, and from election to fill

    def __init__(self, pm_settings: Settings, redis_url: str) -> None:
        super().__init__()
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        realistic = self.lifecycle == "realistic"
        # A frozen clock and no latency keep examples repeatable; in the realistic lifecycle a
        # request still lands only at the broker's next step, and a fill needs the next quote.
        # Realistic: at most PARTIAL_FILLS shares fill per quote, so exits and stops fill in
        # parts (0 turns it off).
        engine = EngineConfig(
            lifecycle=self.lifecycle,
            accept_latency_s=self.latency_s,
            fill_latency_s=self.latency_s,
            partial_fill_qty=Decimal(PARTIAL_FILLS) if realistic and PARTIAL_FILLS else None,
        )
        self.sim = start_simulator(
            SimulatorConfig(engine=engine),
            lifecycle=self.lifecycle,
            redis_url=redis_url,
            rate_limit=100_000,
            clock_start=REGULAR_AT,
            clock_speed=0.0,
        )
        self.harness = Harness(pm_settings, self.sim, client, redis_url)
        self.price = {"AAPL": Decimal(100), "TSLA": Decimal(100)}
        self.now = REGULAR_AT
        self.session = Session.REGULAR
        risk_params(client, "AAPL", atr="2", cap_class="large")
        risk_params(client, "TSLA", atr="3", cap_class="large")
        if realistic:  # held at the start: the startup scan adopts and protects them
            self.sim.simulator.seed_positions(
                [("AAPL", Decimal(100), Decimal(100)), ("TSLA", Decimal(-60), Decimal(100))],
                marks={"AAPL": Decimal(100), "TSLA": Decimal(100)},
            )
            for symbol in SYMBOLS:
                self.sim.simulator.feed_quote(
                    symbol, Decimal("99.99"), Decimal("100.01"), Decimal(100)
                )
            self._start()
        else:
            self._start()
            self.harness.approve("AAPL", "buy", 100, "100")
            self.harness.approve("TSLA", "sell", 60, "100")
        self.original = {
            h["position_key"]: Decimal(h["original_quantity"])
            for h in (self.harness.state(s) for s in SYMBOLS)
            if h
        }

    def _start(self) -> None:
        if self.latency_s:
            # One order thread, and its waits for a request to land let simulated time pass:
            # the frozen clock moves only when a rule or a waiting order thread moves it.
            self.harness.start(threads=1, wait=self.sim.simulator.advance_clock)
        else:
            self.harness.start()

    def teardown(self) -> None:
        self.harness.close()
        self.sim.stop()
        self.harness.client.close()

    # --- what happens -------------------------------------------------------------------------
    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(min_value=-10, max_value=25))
    def quote(self, symbol: str, move: int) -> None:
        """A move the broker and the worker both see (the broker fills what it crosses)."""
        self.price[symbol] = max(
            Decimal("1"), (self.price[symbol] * (100 + move) / 100).quantize(Decimal("0.01"))
        )
        self.harness.quote(symbol, self.price[symbol])
        self._remember_originals()

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(min_value=-10, max_value=25))
    def worker_sees_first(self, symbol: str, move: int) -> None:
        """The worker reads a price the broker has not acted on yet."""
        price = max(
            Decimal("1"), (self.price[symbol] * (100 + move) / 100).quantize(Decimal("0.01"))
        )
        self.harness.quote(symbol, price, broker_sees=False)

    @rule(symbol=st.sampled_from(SYMBOLS))
    def hand_cancel_stop(self, symbol: str) -> None:
        for stop in self.harness.stops(symbol):
            # 422 while the stop is `pending_replace` / `pending_cancel`: Alpaca refuses too
            with contextlib.suppress(OrderRejectedError):
                self.harness.broker.cancel_order(stop.id)
        self.harness.settle()

    @rule(status=st.sampled_from([429, 500, 503, 422]), symbol=st.sampled_from(SYMBOLS))
    def broker_fault_then_quote(self, status: int, symbol: str) -> None:
        self.sim.simulator.set_faults(fail_next=1, error_status=status)
        self.harness.quote(symbol, self.price[symbol] * Decimal("1.21"))
        self.price[symbol] = self.price[symbol] * Decimal("1.21")
        self.sim.simulator.clear_faults()

    @rule()
    def post_market_then_next_open(self) -> None:
        """16:30 New York, then the next day's open: DAY orders left in between expire."""
        day = self.now.date()
        self.sim.simulator.set_clock(datetime(day.year, day.month, day.day, 21, 30, tzinfo=UTC))
        self._session(Session.POST)
        self.now = self.now + timedelta(days=1)
        self.sim.simulator.set_clock(self.now)
        self._session(Session.REGULAR)

    @rule()
    def restart(self) -> None:
        assert self.harness.worker is not None
        self.harness.worker.close()
        self._start()

    def _session(self, session: Session) -> None:
        assert self.harness.worker is not None
        self.harness.worker.housekeeping.set_session(session, Changes())
        self.session = session
        self.harness.settle()

    def _remember_originals(self) -> None:
        for symbol in SYMBOLS:
            state = self.harness.state(symbol)
            if state:
                self.original.setdefault(state["position_key"], Decimal(state["original_quantity"]))

    # --- what must hold -------------------------------------------------------------------------
    def _orders(self) -> list[inv.OrderView]:
        return order_views(self.sim.simulator.engine.book)

    def _positions(self) -> dict[str, Decimal]:
        return {s: p.qty for s, p in self.sim.simulator.engine.book.positions.items() if p.qty != 0}

    @invariant()
    def never_oversold_or_flipped(self) -> None:
        assert inv.no_oversell_or_flip(self._positions(), self._orders()) == []

    @invariant()
    def at_most_one_stop(self) -> None:
        assert inv.one_stop_per_position(self._orders()) == []

    @invariant()
    def every_whole_share_covered_once_the_worker_had_its_chance(self) -> None:
        worker = self.harness.worker
        if worker is None or self.session is not Session.REGULAR:
            return
        if any(
            o.status not in ("new", "filled", "canceled", "expired", "replaced", "rejected")
            for o in self._orders()
        ):
            return  # a request is still in flight at the broker (realistic): not settled yet
        if worker.engine.retry.next_due_in() is not None or worker.engine.halted:
            return  # a failed order is waiting for its retry: covered after it (bounded)
        assert inv.whole_shares_covered(self._positions(), self._orders()) == []

    @invariant()
    def profit_levels_sold_at_most_once(self) -> None:
        assert inv.profit_levels_sold_once(self._orders(), self.original) == []

    @invariant()
    def each_event_once(self) -> None:
        assert inv.events_once(self.harness.client) == []


class RealisticWorkerMachine(WorkerMachine):
    """On the realistic simulator with a running clock: accepted then filled later, pending
    cancels and replaces in which the old order can still fill, collared buy stops."""

    lifecycle: Literal["instant", "realistic"] = "realistic"


class LatentWorkerMachine(RealisticWorkerMachine):
    """The realistic lifecycle with latency: a request lands, and an elected or crossed order
    fills, two simulated seconds later, so requests stay pending across quotes, restarts and
    session changes, and time passing is a step of its own."""

    latency_s = 2.0

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0]))
    def time_passes(self, seconds: float) -> None:
        self.sim.simulator.advance_clock(seconds)
        self.harness.settle()


def test_the_worker_keeps_its_promises_on_the_realistic_lifecycle(
    settings: Settings, redis_url: str
) -> None:
    class OnThisTestsRedis(RealisticWorkerMachine):
        def __init__(self) -> None:
            super().__init__(settings, redis_url)

    run_state_machine_as_test(OnThisTestsRedis, settings=settings_profile())


def test_the_worker_keeps_its_promises_with_latency(settings: Settings, redis_url: str) -> None:
    class OnThisTestsRedis(LatentWorkerMachine):
        def __init__(self) -> None:
            super().__init__(settings, redis_url)

    run_state_machine_as_test(OnThisTestsRedis, settings=settings_profile())


def test_the_worker_keeps_its_promises_through_random_interleavings(
    settings: Settings, redis_url: str
) -> None:
    class OnThisTestsRedis(WorkerMachine):
        def __init__(self) -> None:
            super().__init__(settings, redis_url)

    run_state_machine_as_test(OnThisTestsRedis, settings=settings_profile())


def settings_profile() -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=os.environ.get("PM_STATEFUL_RANDOM") is None,
    )
