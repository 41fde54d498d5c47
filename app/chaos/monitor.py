"""Samples the broker's book through the whole chaos run (every `interval`, through `/sim/book`,
which costs no rate budget): how long each held position went without a live stop, how long the
worker's own record of a position (its state hash in Redis) disagreed with the broker's, what
was ever oversold, flipped or doubled while it happened, and the request count over time (for
the peak per 60 s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import requests

from app.chaos.observe import (
    flipped,
    open_decisions_twice,
    order_views,
    peak_in_window,
    unprotected,
)
from app.chaos.sim_client import SimControl
from rules.invariants import no_oversell_or_flip, one_stop_per_position
from simulator.state import SimBook

PEAK_STAT = "peak_requests_per_window"  # the simulator's own figure, where it has one


@dataclass
class Observed:
    """Everything the samples saw. Windows are measured from the first sample without a stop to
    the first sample with one again, so each is accurate to one sampling interval."""

    samples: int = 0
    failed_samples: int = 0
    longest_unprotected: dict[str, float] = field(default_factory=dict)
    longest_disagreement: dict[str, float] = field(default_factory=dict)
    disagreements: dict[str, str] = field(default_factory=dict)  # symbol -> first one seen
    oversold: dict[str, str] = field(default_factory=dict)  # symbol -> first violation seen
    two_stops: dict[str, str] = field(default_factory=dict)
    flipped: set[str] = field(default_factory=set)
    decisions_twice: set[str] = field(default_factory=set)
    requests: list[tuple[float, int]] = field(default_factory=list)
    peak_stat: int | None = None
    last_book: SimBook | None = None

    def peak_requests(self, window: float = 60.0) -> int:
        if self.peak_stat is not None:
            return self.peak_stat
        return peak_in_window(self.requests, window)


class Windows:
    """How long each symbol has been in some state, and the longest it ever was, from samples:
    a window runs from the first sample in the state to the first sample out of it."""

    def __init__(self, longest: dict[str, float]) -> None:
        self.longest = longest
        self._since: dict[str, float] = {}

    def observe(self, now: float, inside: set[str]) -> set[str]:
        """Returns the symbols whose longest window grew with this sample."""
        grew = set()
        for symbol in inside:
            self._since.setdefault(symbol, now)
        for symbol in list(self._since):
            started = self._since[symbol] if symbol in inside else self._since.pop(symbol)
            if now - started > self.longest.get(symbol, 0.0):
                self.longest[symbol] = now - started
                grew.add(symbol)
            self.longest.setdefault(symbol, 0.0)
        return grew


class BookMonitor:
    def __init__(
        self,
        control: SimControl,
        original: dict[str, Decimal],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        worker_view: Callable[[], dict[str, Decimal] | None] = lambda: None,
    ) -> None:
        self.control = control
        self.original = original
        self.interval = interval
        self.clock = clock
        self.worker_view = worker_view
        self.seen = Observed()
        self._bare = Windows(self.seen.longest_unprotected)
        self._apart = Windows(self.seen.longest_disagreement)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-monitor", daemon=True)

    def start(self) -> BookMonitor:
        self._thread.start()
        return self

    def stop(self) -> Observed:
        self._stop.set()
        self._thread.join(timeout=30)
        self.sample()  # the final state, after everything settled
        return self.seen

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            stats = self.control.stats()
            book = self.control.book()
        except requests.RequestException:
            self.seen.failed_samples += 1
            return
        self.observe(book, stats, self.clock(), self.worker_view())

    def observe(
        self,
        book: SimBook,
        stats: dict[str, int],
        now: float,
        worker: dict[str, Decimal] | None = None,
    ) -> None:
        """One sample; `worker` is each symbol's quantity in the worker's own state (None when
        Redis could not be read: that sample says nothing about agreement)."""
        seen = self.seen
        seen.samples += 1
        seen.last_book = book
        seen.requests.append((now, stats.get("requests", 0)))
        if PEAK_STAT in stats:
            seen.peak_stat = stats[PEAK_STAT]
        self._bare.observe(now, unprotected(book))
        if worker is not None:
            apart: dict[str, str] = {}
            for symbol in self.original:
                at_broker = abs(book.positions[symbol].qty) if symbol in book.positions else 0
                recorded = worker.get(symbol, Decimal(0))
                if recorded != at_broker:
                    apart[symbol] = f"the worker holds {recorded}, the broker {at_broker}"
            for symbol in self._apart.observe(now, set(apart)):
                if symbol in apart:  # what it was while the longest window was open
                    seen.disagreements[symbol] = apart[symbol]
        orders = order_views(book)
        held = {s: p.qty for s, p in book.positions.items() if p.qty != 0}
        for violation in no_oversell_or_flip(held, orders):
            seen.oversold.setdefault(violation.split(":", 1)[0], violation)
        for violation in one_stop_per_position(orders):
            seen.two_stops.setdefault(violation.split(":", 1)[0], violation)
        seen.flipped |= flipped(book, self.original)
        seen.decisions_twice.update(open_decisions_twice(orders))
