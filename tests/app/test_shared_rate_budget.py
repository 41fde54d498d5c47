"""One rate budget per API key across processes: the worker, its restart and a Dagster run.

Real processes where it is cheap: each `python -c` below builds its broker exactly as the worker
process does (`build_broker(settings, base_url=..., redis_url=...)`, app/worker.py) and spends
requests against one simulator, which counts what really arrived. The simulator's own budget is
far above ours, so only our shared limiter can hold the line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.errors import RateLimitedError
from broker.factory import build_broker
from broker.shared_rate_limit import forget_shared_budgets
from pipelines.resources import embedded_resources
from position_manager.config import Settings, load_settings
from simulator import SimulatorHandle, start_simulator
from tests.support.simulator import REGULAR_OPEN_MORNING

REPO = Path(__file__).parents[2]
SPEND = """
import sys
from broker.errors import RateLimitedError
from broker.factory import build_broker
from position_manager.config import load_settings

broker = build_broker(load_settings(), base_url=sys.argv[1], redis_url=sys.argv[2])
sent = 0
for _ in range(int(sys.argv[3])):
    try:
        with broker.non_blocking():
            broker.get_clock()
        sent += 1
    except RateLimitedError:
        pass
print(sent)
"""


@pytest.fixture
def roomy_sim() -> Iterator[SimulatorHandle]:
    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0, rate_limit=10_000
    ) as handle:
        yield handle


def spend(
    sim: SimulatorHandle, redis_url: str, tmp_path: Path, tries: int
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "REDIS_"))}
    env.update(ALPACA_RATE_LIMIT_PER_MINUTE="5", REDIS_URL=redis_url, DATA_DIR=str(tmp_path))
    return subprocess.Popen(
        [sys.executable, "-c", SPEND, sim.url, redis_url, str(tries)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sent_by(proc: subprocess.Popen[str]) -> int:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return int(out.strip().splitlines()[-1])


def test_two_processes_and_a_restart_share_one_budget(
    roomy_sim: SimulatorHandle, redis_url: str, tmp_path: Path
) -> None:
    worker, job = spend(roomy_sim, redis_url, tmp_path, 8), spend(roomy_sim, redis_url, tmp_path, 8)
    assert sent_by(worker) + sent_by(job) == 5
    restarted = spend(roomy_sim, redis_url, tmp_path, 3)  # the worker again, a minute not over
    assert sent_by(restarted) == 0
    stats = roomy_sim.simulator.stats
    assert stats["GET /v2/clock"] == 5
    assert stats["peak_requests_per_window"] == 5
    assert stats["rate_limited"] == 0


def test_a_dagster_runs_broker_draws_on_the_workers_budget(
    settings: Settings, roomy_sim: SimulatorHandle, redis_url: str
) -> None:
    overrides = {
        "data_dir": str(settings.data_dir),
        "redis_url": redis_url,
        "alpaca_rate_limit_per_minute": "4",
    }
    worker = build_broker(load_settings(**overrides), roomy_sim.url, redis_url=redis_url)
    for _ in range(3):
        worker.get_clock()
    forget_shared_budgets()  # the run is another process: nothing of the worker's in memory
    resources = embedded_resources(
        settings, broker_url=roomy_sim.url, redis_url=redis_url, overrides=overrides
    )
    run_broker = resources["broker"].get_broker()
    assert run_broker.rate_limiter is not worker.rate_limiter
    run_broker.get_clock()  # the fourth of four
    with run_broker.non_blocking(), pytest.raises(RateLimitedError):
        run_broker.get_clock()
    with worker.non_blocking(), pytest.raises(RateLimitedError):
        worker.get_clock()
    assert roomy_sim.simulator.stats["GET /v2/clock"] == 4
