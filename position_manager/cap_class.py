"""Market-cap classes: which stop clamps and trail distances apply to a symbol.

Kernel vocabulary, because the risk-parameter hash (written by the pipeline, read by the position
service) carries it.
"""

from __future__ import annotations

from enum import StrEnum


class CapClass(StrEnum):
    MICRO = "micro"
    LARGE = "large"
