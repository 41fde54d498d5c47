"""The chaos suite's CI profile (`app.chaos.profile.CI`): the worker as its own process killed
-9 three times (one just after an order request reached the broker), Redis killed -9 once and
brought back on its append-only file, 5xx / 429 / 2 s latency / dropped answers from the
simulator (its own process), hostile quotes; then the history ingest and the invariants against
the broker, the streams and DuckDB. One run for the module (~35 s); each test reads one figure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chaos.profile import CI
from app.chaos.run import ChaosReport, run_chaos

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ChaosReport:
    return run_chaos(CI, Path(tmp_path_factory.mktemp("chaos")) / "run")


def test_the_run_kills_restarts_and_faults_as_planned(report: ChaosReport) -> None:
    kills = report.figure("worker kills")
    assert kills.ok, kills.details
    assert "after_order" in kills.details[0]
    assert report.figure("worker restarts").value >= CI.worker_kills
    assert report.figure("Redis kills").ok
    faults = report.figure("broker fault phases")
    assert faults.value == len(CI.faults)
    assert not faults.text.startswith("4: 0 errors"), faults.text  # the faults hit requests
    assert report.figure("orders at the broker").value > 10


@pytest.mark.parametrize(
    "figure",
    [
        "duplicate orders for one decision",
        "oversells",
        "flips",
        "double profit levels",
        "duplicate events",
        "garbage traded on",
        "positions not fully covered at the end",
        "peak requests per 60 s",
        "longest unprotected window",
        "closed_trades P&L",
        "story",
        "longest the worker's quantity differed",
        "the worker's book != the broker's at the end",
        "lost events",
    ],
)
def test_the_invariant_holds(report: ChaosReport, figure: str) -> None:
    rows = [f for f in report.figures if f.name.startswith(figure)]
    assert rows
    for row in rows:
        assert row.ok, f"{row.name}: {row.text} (target {row.target}): {row.details}"
