"""The processes a chaos run owns: a Redis on its append-only file, the simulator, the worker.

Each is a real process started here and ended here by its own pid: `kill -9` is
`os.kill(pid, SIGKILL)` on the one process, never a pattern. Every wait is on a condition (Redis
answers PING, the simulator prints its URL, the worker logs `worker running`) with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from position_manager.local_redis import find_redis_server_binary

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"chaos run: {what} (waited {timeout:.0f} s)")
        time.sleep(0.02)


class ChaosRedis:
    """redis-server with `appendonly yes` and `appendfsync always`: after a kill -9 it comes
    back on the same port from the same file, with every write it acknowledged."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory.resolve()
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> ChaosRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(find_redis_server_binary()),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, timeout, f"redis-server did not answer on port {self.port}")
        return self

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited ({self.process.returncode}); see its log")
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=1)
        try:
            # LOADING while the append-only file is read back: not ready yet.
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process = None


class SimulatorProcess:
    """`python -m simulator` on a free port: the realistic lifecycle, Alpaca's 200 requests a
    minute, its clock running at real speed from a regular-session morning, order updates
    published to the chaos Redis, its book kept in a snapshot file."""

    def __init__(self, workdir: Path, redis_url: str, clock_start: str, rate_limit: int) -> None:
        self.args = [
            sys.executable, "-m", "simulator", "--port", "0", "--redis-url", redis_url,
            "--snapshot", str(workdir / "simulator.json"), "--lifecycle", "realistic",
            "--rate-limit", str(rate_limit), "--clock-start", clock_start, "--clock-speed", "1",
            "--control",  # the chaos run drives faults and samples /sim/book
        ]  # fmt: skip
        self.log_path = workdir / "simulator.log"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> SimulatorProcess:
        log = self.log_path.open("a")
        # Faults come from /sim/faults on the run's schedule, never from a PM_SIM_* left in the
        # environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PM_SIM_")}
        self.process = subprocess.Popen(
            self.args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        log.close()
        found: list[str] = []
        reader = threading.Thread(
            target=lambda: found.append(self.process.stdout.readline().strip())  # type: ignore[union-attr]
        )
        reader.start()
        reader.join(timeout)
        if not found or not found[0].startswith("http"):
            self.stop()
            raise RuntimeError(f"the simulator did not start; see {self.log_path}")
        self.url = found[0]
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            if self.process.stdout:
                self.process.stdout.close()
            self.process = None


class WorkerSupervisor:
    """`python -m app.worker` pointed at the chaos Redis and simulator, killed -9 and restarted
    on demand. An exit nobody asked for (a crash at start while Redis is down, say) is counted
    and the worker restarted, as a process manager would."""

    RUNNING = 'msg="worker running"'

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._lock = threading.RLock()
        self.spawned_at = 0.0
        self.starts = 0
        self.kills = 0
        self.unplanned_exits: list[int] = []

    def spawn(self) -> None:
        with self._lock:
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "app.worker"],
                    cwd=REPO,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.spawned_at = time.monotonic()
            self.starts += 1

    def is_up(self) -> bool:
        """This process finished its startup scan (it logged `worker running`)."""
        with self._lock:
            if self.process is None or self.process.poll() is not None:
                return False
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return self.RUNNING.encode() in log.read()

    def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.keep_alive()
            if self.is_up():
                return True
            time.sleep(0.05)
        return False

    def keep_alive(self) -> None:
        """Restart the worker if it exited without being killed by us."""
        with self._lock:
            if self.process is not None and self.process.poll() is not None:
                self.unplanned_exits.append(self.process.returncode)
                self.spawn()

    def kill9(self) -> None:
        with self._lock:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None
            self.kills += 1

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM (the worker finishes its batch, acks and exits 0); kill -9 past `timeout`."""
        with self._lock:
            if self.process is None:
                return None
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait(timeout=10)
            self.process = None
            return code
