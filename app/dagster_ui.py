"""The Dagster webserver and daemon (`dagster dev`) as `ui` and `up` start them.

One Dagster instance per data directory, `DATA_DIR/dagster_home`, with the project's instance
settings (package data, `app/deploy/dagster.yaml`: the DuckDB pool of one, run retries) and a
workspace naming the installed code location (`app.dagster_home`): the UI, its daemon, the
demo's in-process runs and `up`'s first refresh all record there, so the UI shows the runs,
materializations and checks of the book they worked on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import requests

from app.dagster_home import prepare_dagster_home
from position_manager.config import Settings


def dagster_home(settings: Settings) -> Path:
    """`DATA_DIR/dagster_home`, created, with the shipped dagster.yaml and a workspace.yaml in
    it (no source tree needed: a wheel install runs `ui` and `up` too)."""
    home = (settings.data_dir / "dagster_home").resolve()
    prepare_dagster_home(home)
    return home


# Dagster's notes to developers, printed by every process that loads the code location: that
# `dagster dev` is superseded by `dg dev` and that parameters we use are in beta. Not for the
# user's terminal. Filters by message prefix: a category outside the standard library cannot be
# named in PYTHONWARNINGS (Python would have to import it before site-packages is on the path).
QUIET_WARNINGS = (
    "ignore:Function `dev_command` is superseded",
    "ignore:Parameter `backfill_policy` of function `asset` is currently in beta",
    "ignore:Parameter `owners` of initializer",
)


def dagster_env(settings: Settings, redis_url: str | None) -> dict[str, str]:
    """The environment of `dagster dev`: our instance; the Redis we started, if we did."""
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home(settings))}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), *QUIET_WARNINGS]))
    return env


def dagster_dev_args(home: Path, port: int, *, log_level: str = "warning") -> list[str]:
    """`dagster dev` on 127.0.0.1 only, on the workspace written into `home`, at `log_level`
    (its default, info, prints every daemon tick; the code server's is warning already)."""
    dagster = Path(sys.executable).parent / "dagster"
    return [
        str(dagster), "dev",
        "-w", str(home / "workspace.yaml"),
        "-h", "127.0.0.1",
        "-p", str(port),
        "--log-level", log_level,
    ]  # fmt: skip


def ui_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def ui_answers(port: int, timeout: float = 1.0) -> bool:
    """The webserver serves (`/server_info` answers 200)."""
    try:
        return requests.get(f"{ui_url(port)}/server_info", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def for_the_terminal(line: str) -> bool:
    """Dagster's output a user reads: not the DEBUG line per step event that every schedule
    and sensor run prints (the instance's default console level); those stay in the log."""
    return " - DEBUG - " not in line


def stop_dagster(group: Any, dagster: subprocess.Popen[bytes], keep: list[int]) -> None:
    """SIGINT to `dagster dev` (it stops its webserver and daemon), then end what it leaves in
    the group: its code server and any run in progress (they get SIGTERM: a run is marked as
    ended, not left "started"), but not the children in `keep`, stopped later in order."""
    group.stop("dagster", dagster, signal.SIGINT, timeout=30)
    group.sweep(keep=keep)


def run_ui(settings: Settings, port: int) -> int:
    """`position-manager ui`: the shared embedded Redis and simulator when none answer (the
    worker's, if it runs), then `dagster dev` until it exits or we are asked to stop.

    `dagster dev` is in a process group of its own with everything it starts (webserver,
    daemon, code server, runs): a Ctrl-C or a SIGTERM reaches only this process, which asks
    Dagster to shut down (SIGINT: it stops its webserver and daemon itself), then stops the
    simulator, then Redis, and sweeps the group so that nothing keeps serving the port."""
    from app.processes import ProcessGroup
    from position_manager.config import BrokerKind
    from position_manager.local_redis import ensure_redis

    group = ProcessGroup()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    server = sim = dagster = None
    try:
        url, server = ensure_redis(settings, process_group=group.popen_group())
        if server is not None and server.process is not None:
            group.adopt(server.process.pid)
        if settings.broker_kind is BrokerKind.SIMULATOR:
            from simulator.embedded import ensure_simulator

            _sim_url, sim = ensure_simulator(settings, url)
        env = dagster_env(settings, url if server is not None else None)
        logs = settings.data_dir / "logs" / "dagster.log"
        print(f"Dagster UI on {ui_url(port)} (its whole log: {logs}); Ctrl-C stops it")
        dagster = group.spawn(
            "dagster",
            dagster_dev_args(dagster_home(settings), port),
            env=env,
            log_path=logs,
            echo=for_the_terminal,
        )
        while dagster.poll() is None and not stopping.wait(0.5):
            pass
        return 0 if stopping.is_set() else (dagster.returncode or 0)
    finally:
        if dagster is not None:
            stop_dagster(
                group, dagster, keep=[server.process.pid] if server and server.process else []
            )
        if sim is not None:
            sim.stop()
        if server is not None:
            server.stop()
        group.sweep()
