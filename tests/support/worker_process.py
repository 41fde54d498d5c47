"""`python -m app.worker` as a real process on the embedded simulator, for tests that need the
worker's own start-up path (settings from the environment, `ensure_redis`, the simulator it
starts): run it until it beats, stop it with SIGTERM, hand back what it printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis

from position_manager import redis_schema
from position_manager.local_redis import free_port
from tests.support.waits import wait_until

REPO = Path(__file__).parents[2]


@dataclass(frozen=True)
class WorkerRun:
    returncode: int
    output: str  # stdout and stderr together


def worker_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The test process's environment without any ALPACA_*/REDIS_*/ALPHA_VANTAGE_* setting, a
    data dir and a free simulator port of its own, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALPACA_", "REDIS_", "ALPHA_VANTAGE_", "BROKER"))
    }
    env.update(DATA_DIR=str(data_dir), SIMULATOR_PORT=str(free_port()), PM_WORKER_NAME="proc")
    env.update(settings)
    return env


def run_worker_until_beating(env: dict[str, str], client: redis.Redis) -> WorkerRun:
    """Start the worker; once its heartbeat is in `client`'s Redis, SIGTERM it. The heartbeat
    is the proof it connected (with whatever credentials `env` gives it)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def beating() -> bool:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"worker exited {proc.returncode}:\n{out}")
            return client.get(redis_schema.WORKER_HEARTBEAT_KEY) is not None

        wait_until(beating, 60, "worker never beat", interval=0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        return WorkerRun(proc.returncode, out.decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def run_worker_to_exit(env: dict[str, str], timeout: float = 60) -> WorkerRun:
    """Run the worker when it is expected to stop on its own (a start-up failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "app.worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    return WorkerRun(done.returncode, done.stdout.decode())
