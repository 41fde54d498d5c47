"""The embedded broker shared by every process of one machine: the worker, Dagster runs, the UI.

Each of them calls `ensure_simulator`: the first one starts the simulator on SIMULATOR_PORT (state
in DATA_DIR/simulator.json, quotes read from the Redis stream, the demo book opened when the book
is empty), the others find it answering there and use it. Whoever started it stops it.
"""

from __future__ import annotations

import logging

import requests

from position_manager.config import Settings
from position_manager.logging import log_kv
from simulator.server import SimulatorHandle, start_simulator

log = logging.getLogger(__name__)


def simulator_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.simulator_port}"


def simulator_answers(url: str, *, timeout: float = 2.0) -> bool:
    """A simulator answers there. Asked through `/sim/health`, which is served with the controls
    off and is never rate limited or faulted: probing through Alpaca's `/v2/clock` spent the
    account's budget and, while the broker was faulted, found no simulator, so a restarted worker
    tried to bind the taken port and exited 1 (12 restarts in one chaos run)."""
    try:
        answer = requests.get(f"{url}/sim/health", timeout=timeout)
        return answer.status_code == 200 and answer.json().get("simulator") == "position-manager"
    except (requests.RequestException, ValueError, AttributeError):
        return False


def ensure_simulator(
    settings: Settings, redis_url: str | None, *, seed_demo_book: bool = True
) -> tuple[str, SimulatorHandle | None]:
    """(URL, the handle if this call started it). Raises OSError if the port is taken by
    something that is not a simulator."""
    url = simulator_url(settings)
    if simulator_answers(url):
        return url, None
    try:
        handle = start_simulator(
            port=settings.simulator_port,
            redis_url=redis_url,
            consume_quotes=redis_url is not None,
            snapshot_path=settings.data_dir / "simulator.json",
        )
    except OSError:
        # Taken: by a simulator too busy to answer in time (or one starting beside us), or by
        # something else, which is the caller's error to report.
        if simulator_answers(url, timeout=5.0):
            return url, None
        raise
    if seed_demo_book and not handle.simulator.engine.book.positions:
        handle.simulator.seed_positions()
        log_kv(log, logging.INFO, "demo book opened in the simulator", url=handle.url)
    return handle.url, handle
