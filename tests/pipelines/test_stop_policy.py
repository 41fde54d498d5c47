"""`stop_policy_comparison`: each settings set's partition replays the book through the live
worker (a real `python -m app.replay` process) and compares every set's latest run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pipelines.common import new_york_today, now_utc
from pipelines.materialize import materialize_everything
from pipelines.resources import resources_for
from pipelines.whatif.sets import SetsFileError, load_sets
from pipelines.whatif.stop_policy import build_stop_policy_asset
from position_manager.config import Settings
from simulator import SimulatorHandle, start_simulator
from warehouse.connection import open_warehouse
from warehouse.tables import REPLAY_RUNS

SETS = """
sessions: 2
sets:
  live: {}
  trail_1pct:
    TRAIL_PERCENT_LARGE: "0.01"
    TRAIL_PERCENT_MICRO: "0.02"
"""


@pytest.fixture
def book_sim(settings: Settings, redis_url: str) -> Iterator[SimulatorHandle]:
    """The demo book at the broker the replay's minute bars would come from (settings' port)."""
    handle = start_simulator(redis_url=redis_url, port=settings.simulator_port)
    handle.simulator.seed_positions()
    yield handle
    handle.stop()


def test_each_set_is_a_partition_and_the_metadata_compares_them(
    settings: Settings, book_sim: SimulatorHandle, redis_url: str, tmp_path: Path
) -> None:
    refresh = materialize_everything(
        settings,
        broker_url=str(book_sim.url),
        redis_url=redis_url,
        last=new_york_today(now_utc()) - timedelta(days=1),
        log_level="WARNING",
    )
    assert refresh.success
    path = tmp_path / "sets.yaml"
    path.write_text(SETS)
    asset = build_stop_policy_asset(load_sets(path))
    assert asset.partitions_def is not None
    assert sorted(asset.partitions_def.get_partition_keys()) == ["live", "trail_1pct"]

    metadata: dict[str, dict[str, Any]] = {}
    for key in ("live", "trail_1pct"):
        result = dg.materialize([asset], partition_key=key, resources=resources_for(settings))
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata[key] = {k: v.value for k, v in event.materialization.metadata.items()}

    last = metadata["trail_1pct"]
    table = last["comparison"]
    assert "| live |" in table and "| trail_1pct |" in table
    assert str(last["comparison_chart"]).startswith("![what-if")
    # The set reached the replayed worker: a 1 % trail stops out at least as often as the live
    # 5 %, and the two runs did not come out the same.
    live = metadata["live"]
    assert last["stop_outs"] >= live["stop_outs"]
    scored = ("realized_pnl", "stop_outs", "orders", "worst_drawdown")
    assert [last[k] for k in scored] != [live[k] for k in scored]
    assert last["overrides"] == {"TRAIL_PERCENT_LARGE": "0.01", "TRAIL_PERCENT_MICRO": "0.02"}
    with open_warehouse(settings.warehouse_path) as conn:
        runs = conn.execute(
            f"SELECT settings_set, status, first_day, last_day FROM {REPLAY_RUNS} ORDER BY 1"
        ).fetchall()
    assert [(r[0], r[1]) for r in runs] == [("live", "ok"), ("trail_1pct", "ok")]
    assert runs[0][2] < runs[0][3]  # two sessions


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sets: []", "wants a `sets:` mapping"),
        ("sets:\n  'bad name': {}", "set name"),
        ("months: 0\nsets:\n  live: {}", "months must be"),
        ("sets: [", "sets.yaml"),
    ],
)
def test_a_bad_sets_file_says_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "sets.yaml"
    path.write_text(text)
    with pytest.raises(SetsFileError, match=problem):
        load_sets(path)
