"""One row of the chaos table: a figure, what it should be, and whether it is."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Figure:
    """`ok` is None for a figure that is only reported (kills, orders, breaker openings)."""

    name: str
    value: float
    target: str = ""
    ok: bool | None = None
    shown: str | None = None  # the value as printed, when not just the number
    details: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if self.shown is not None:
            return self.shown
        return f"{self.value:g}" if isinstance(self.value, float) else str(self.value)

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else "ok" if self.ok else "FAIL"


def zero(name: str, problems: list[str]) -> Figure:
    """A promise that must never be broken: how many times it was, target 0."""
    return Figure(name, len(problems), "0", not problems, details=problems)
