"""The four market sessions every layer speaks of (the calendar, the rules, the simulator)."""

from __future__ import annotations

from enum import StrEnum


class Session(StrEnum):
    PRE = "PRE"
    REGULAR = "REGULAR"
    POST = "POST"
    CLOSED = "CLOSED"
