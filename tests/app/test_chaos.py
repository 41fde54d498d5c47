"""The chaos suite's CI profile (`app.chaos.profile.CI`): the worker as its own process killed
-9 three times (one just after an order request reached the broker), Redis killed -9 once and
brought back on its append-only file, 5xx / 429 / 2 s latency / dropped answers from the
simulator (its own process), hostile quotes; then the history ingest and the invariants against
the broker, the streams and DuckDB. One run for the module (~35 s); each test reads one figure.

"lost events" is xfail (not strict): with catch-up after restarts merged, an order the worker
sent just before it was killed still reaches the history without its position event in about
half the runs (a replace it caught up on has no `trailing_stop_updated`, a caught-up profit
sale no `profit_taking`); it turns XPASS once that is closed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chaos.profile import CI
from app.chaos.run import ChaosReport, run_chaos

pytestmark = pytest.mark.timeout(240)

CAUGHT_UP_SILENTLY = (
    "an order caught up after a kill is applied without its position event (trailing_stop_updated"
    " for a replace, profit_taking for a sale): seen on seeds 12 and 14 with catch-up merged"
)


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
    ],
)
def test_the_invariant_holds(report: ChaosReport, figure: str) -> None:
    rows = [f for f in report.figures if f.name.startswith(figure)]
    assert rows
    for row in rows:
        assert row.ok, f"{row.name}: {row.text} (target {row.target}): {row.details}"


@pytest.mark.xfail(reason=CAUGHT_UP_SILENTLY, strict=False)
def test_every_order_at_the_broker_has_its_position_event(report: ChaosReport) -> None:
    row = report.figure("lost events")
    assert row.ok, f"{row.name}: {row.text}: {row.details}"
