"""Poll until something is true, or fail the test saying what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    message: str = "condition not met in time",
    *,
    interval: float = 0.02,
) -> None:
    """Call `condition` until it returns something truthy; after `timeout` seconds raise
    AssertionError(`message`). The condition may itself assert (e.g. that a process still runs)
    or do a step of work between the checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(message)
        time.sleep(interval)
