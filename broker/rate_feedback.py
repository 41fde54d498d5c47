"""What the broker says about our request budget, read from its answers.

Alpaca sends `X-RateLimit-Limit` (requests per minute), `X-RateLimit-Remaining` and
`X-RateLimit-Reset` ("the UNIX epoch when the remaining quota changes", whole seconds) on its
answers, 429s included (Alpaca's OpenAPI specs, `components.headers.ratelimit_*`;
docs/alpaca-notes.md, "Trading rules"). Pure functions: the limiters decide what to do with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# A 429 without a usable Reset: refuse this long (Alpaca always sends one; this is a guard).
DEFAULT_BLOCK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class BrokerBudget:
    """One answer's view of the budget; a field is None when its header is missing or bad."""

    limit: int | None
    remaining: int | None
    reset_at: float | None  # UNIX epoch seconds
    rate_limited: bool  # the answer was a 429

    @property
    def used(self) -> int | None:
        """Requests the broker has counted in its window (limit - remaining)."""
        if self.limit is None or self.remaining is None:
            return None
        return max(self.limit - self.remaining, 0)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(float(raw.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


def read_budget(status_code: int, headers: Mapping[str, str]) -> BrokerBudget | None:
    """The budget an answer reports, or None when it says nothing about it (no headers and not
    a 429). `headers` is case-insensitive for requests' answers; the names are Alpaca's."""
    limit = _int_header(headers, "X-RateLimit-Limit")
    remaining = _int_header(headers, "X-RateLimit-Remaining")
    reset = _int_header(headers, "X-RateLimit-Reset")
    rate_limited = status_code == 429
    if limit is None and remaining is None and reset is None and not rate_limited:
        return None
    return BrokerBudget(
        limit=limit if limit else None,
        remaining=remaining,
        reset_at=float(reset) if reset else None,
        rate_limited=rate_limited,
    )


def block_seconds(budget: BrokerBudget, now: float, *, cap: float) -> float:
    """How long to send nothing: until Reset when the broker refused (429) or said nothing is
    left (Remaining=0); 0 otherwise. Never longer than `cap` (the window: a Reset far off is a
    clock problem, not a budget), and `DEFAULT_BLOCK_SECONDS` for a 429 without a Reset ahead."""
    if not budget.rate_limited and budget.remaining != 0:
        return 0.0
    if budget.reset_at is not None and budget.reset_at > now:
        return min(budget.reset_at - now, cap)
    return DEFAULT_BLOCK_SECONDS if budget.rate_limited else 0.0
