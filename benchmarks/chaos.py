"""The chaos run as a benchmark script: `position-manager chaos` with the same flags.

    .venv/bin/python benchmarks/chaos.py [--profile full|ci] [--kills N] [--seconds S]
        [--seed N] [--workdir DIR] [--json PATH]

Kills the worker (-9) and Redis at random moments and breaks the broker while a scripted market
plays, then checks the invariants against the broker, the streams and DuckDB (app/chaos). Prints
one table; exits 1 when an invariant fails.
"""

from __future__ import annotations

import sys

from app.cli import app

if __name__ == "__main__":
    app(["chaos", *sys.argv[1:]])
