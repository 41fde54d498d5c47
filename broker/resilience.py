"""Circuit breaker and retries around broker calls: the adapter's own, not alpaca-py's.

Order of the wrappers: breaker( retries( one operation ) ). A logical operation that still fails
after its retries counts once toward the breaker, so five failed operations (not five attempts)
open it. Only `BrokerUnavailableError` (5xx, timeouts, refused connections) counts: a rejected
order or a 404 is the broker working, not failing.

Retries (tenacity, exponential backoff with jitter) cover timeouts, 429 and 5xx only; never 4xx,
which would fail the same way again. The breaker takes an injectable monotonic clock so tests move
time instead of sleeping.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pybreaker
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from broker.errors import BrokerError, BrokerUnavailableError, RateLimitedError
from position_manager.logging import log_kv

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitOpenError(BrokerUnavailableError):
    """The breaker is open: the broker failed repeatedly; calls fail fast until it recovers."""


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    """Numbers for the breaker and the retries (5 failures open the breaker, 30 s to recover)."""

    breaker_fail_max: int = 5
    breaker_reset_seconds: float = 30.0
    retry_attempts: int = 3  # total attempts, including the first
    retry_initial_wait: float = 0.25
    retry_max_wait: float = 4.0
    request_timeout: float = 10.0  # seconds per HTTP request (alpaca-py sets none)


class _ClockedStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker compares `opened_at` with the wall clock; this reports `opened_at` so that the
    elapsed time is measured on our injectable clock instead."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock
        self._opened_on_clock: float | None = None

    @property
    def opened_at(self) -> datetime | None:
        if self._opened_on_clock is None:
            return None
        elapsed = self._clock() - self._opened_on_clock
        return datetime.now(UTC) - timedelta(seconds=elapsed)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._opened_on_clock = self._clock()


class _StateListener(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: Resilience) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._owner._state_changed(old_state.name if old_state else None, new_state.name)


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, 429 and 5xx: the typed errors that say so. Not retried: an open circuit, and our
    own limiter's refusal (status None), which already waited as long as the caller allows."""
    if isinstance(exc, CircuitOpenError):
        return False
    if isinstance(exc, RateLimitedError) and exc.status is None:
        return False
    return isinstance(exc, BrokerError) and exc.retryable


class Resilience:
    """Breaker + retries for one broker (one API key). Thread-safe; calls run concurrently.

    `on_state_change(old, new)` is called on every breaker transition ("closed", "open",
    "half-open") so the worker can publish `alert.circuit_open`; `state` can be polled too.
    """

    def __init__(
        self,
        policy: ResiliencePolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_state_change: Callable[[str | None, str], None] | None = None,
        name: str = "alpaca",
    ) -> None:
        self.policy = policy or ResiliencePolicy()
        self._sleep = sleep
        # Stateless, so built once: per call it costs an allocation and a DeprecationWarning.
        self._wait = wait_exponential_jitter(
            initial=self.policy.retry_initial_wait, max=self.policy.retry_max_wait
        )
        self._on_state_change = on_state_change
        self._lock = threading.Lock()
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.policy.breaker_fail_max,
            reset_timeout=self.policy.breaker_reset_seconds,
            exclude=[lambda exc: not isinstance(exc, BrokerUnavailableError)],
            listeners=[_StateListener(self)],
            state_storage=_ClockedStorage(clock),
            name=name,
        )

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    @property
    def failure_count(self) -> int:
        return int(self.breaker.fail_counter)

    def _state_changed(self, old: str | None, new: str) -> None:
        log_kv(log, logging.WARNING, "broker circuit breaker changed", old=old, new=new)
        if self._on_state_change is not None:
            try:
                self._on_state_change(old, new)
            except Exception:  # a broken observer must not break broker calls
                log.exception("circuit breaker observer failed")

    def call(
        self,
        operation: Callable[[], T],
        *,
        op: str,
        retry: bool = True,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Run `operation` under the breaker, retrying transient failures unless `retry` is off
        (the quote loop turns it off: it never sleeps). `retry_on` narrows what is retried, for
        operations a re-send could duplicate."""
        attempts = self.policy.retry_attempts if retry else 1
        predicate = is_retryable
        if retry_on is not None:
            narrow = retry_on
            predicate = lambda exc: is_retryable(exc) and narrow(exc)  # noqa: E731
        try:
            with self.breaker.calling():
                return self._with_retries(operation, op=op, attempts=attempts, retry_on=predicate)
        except pybreaker.CircuitBreakerError as exc:
            raise CircuitOpenError(
                f"broker circuit is open after repeated failures ({op}); "
                f"it is retried after {self.policy.breaker_reset_seconds:g}s",
                status=None,
            ) from exc

    def _with_retries(
        self,
        operation: Callable[[], T],
        *,
        op: str,
        attempts: int,
        retry_on: Callable[[BaseException], bool],
    ) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(max(attempts, 1)),
            wait=self._wait,
            retry=retry_if_exception(retry_on),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log_kv(
                log,
                logging.INFO,
                "retrying broker call",
                op=op,
                attempt=state.attempt_number,
                error=type(state.outcome.exception()).__name__ if state.outcome else None,
            ),
        )
        return retrying(operation)


class StartAbandonedError(BrokerUnavailableError):
    """The host was asked to stop while it still waited for the broker to answer."""


def is_transient(exc: BaseException) -> bool:
    """A broker that will answer later: 429, 5xx, a timeout, an open breaker, our own limiter.
    Not a 4xx or an authentication failure, which asking again cannot fix."""
    return isinstance(exc, BrokerError) and exc.retryable


def call_until_answered(
    operation: Callable[[], T],
    *,
    what: str,
    wait: Callable[[float], bool] | None = None,
    first_wait: float = 0.5,
    max_wait: float = 30.0,
) -> T:
    """Ask until the broker answers: for a host's start, which has nothing better to do and must
    not die of a burst of 429s or a 5xx (a worker that exits leaves every position to the
    schedule). Transient failures (`is_transient`) are logged and asked again after a backoff
    from `first_wait` doubling to at most `max_wait` seconds, with jitter; anything else is
    raised. `wait(seconds)` sleeps and returns True when the host is stopping (a
    `threading.Event.wait`), which ends the wait with `StartAbandonedError`."""
    sleep = wait or _sleep
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            delay = min(first_wait * 2 ** (attempt - 1), max_wait) * random.uniform(0.8, 1.0)
            log_kv(
                log,
                logging.WARNING,
                "broker not answering, asking again",
                what=what,
                attempt=attempt,
                error=type(exc).__name__,
                status=getattr(exc, "status", None),
                retry_in_s=round(delay, 3),
            )
            if sleep(delay):
                raise StartAbandonedError(f"stopped while waiting for the broker ({what})") from exc


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
