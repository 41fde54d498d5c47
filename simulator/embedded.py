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
from position_manager.simulator_keys import SIMULATOR_API_KEY, SIMULATOR_SECRET_KEY
from simulator.server import SimulatorHandle, start_simulator

log = logging.getLogger(__name__)


def simulator_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.simulator_port}"


def simulator_answers(url: str) -> bool:
    """A simulator with the embedded keys answers there. Asked through Alpaca's own `/v2/clock`
    (one request of its rate budget): the embedded simulator serves no `/sim/*` controls."""
    headers = {"APCA-API-KEY-ID": SIMULATOR_API_KEY, "APCA-API-SECRET-KEY": SIMULATOR_SECRET_KEY}
    try:
        return requests.get(f"{url}/v2/clock", headers=headers, timeout=1.0).status_code == 200
    except requests.RequestException:
        return False


def ensure_simulator(
    settings: Settings, redis_url: str | None, *, seed_demo_book: bool = True
) -> tuple[str, SimulatorHandle | None]:
    """(URL, the handle if this call started it). Raises OSError if the port is taken by
    something that is not a simulator."""
    url = simulator_url(settings)
    if simulator_answers(url):
        return url, None
    handle = start_simulator(
        port=settings.simulator_port,
        redis_url=redis_url,
        consume_quotes=redis_url is not None,
        snapshot_path=settings.data_dir / "simulator.json",
    )
    if seed_demo_book and not handle.simulator.engine.book.positions:
        handle.simulator.seed_positions()
        log_kv(log, logging.INFO, "demo book opened in the simulator", url=handle.url)
    return handle.url, handle
