"""`position-manager up` and `ui` as a user runs them: real processes, stopped with SIGTERM, and
nothing they started may survive (checked in /proc by pid and by process group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.dagster_ui import ui_answers
from app.processes import group_members
from position_manager.local_redis import free_port
from tests.support.processes import alive, descendants, pgid
from tests.support.waits import wait_until
from tests.support.worker_process import REPO, worker_env

CLI = str(Path(sys.executable).parent / "position-manager")


class Command:
    """A CLI command in its own process, its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [CLI, *args], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        try:
            wait_until(lambda: self.says(text), timeout, f"never said {text!r}", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; output so far:\n{self.output}") from None

    def says(self, text: str) -> bool:
        if self.proc.poll() is not None and text not in self.output:
            raise AssertionError(f"exited {self.proc.returncode} before {text!r}:\n{self.output}")
        return text in self.output

    def terminate(self, timeout: float = 90) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


def assert_nothing_survives(pids: set[int], groups: set[int]) -> None:
    assert pids, "the command started no process"
    survivors = [pid for pid in pids if alive(pid)]
    assert survivors == [], f"still running: {survivors}"
    for group in groups:
        assert group_members(group) == [], f"process group {group} not empty"


def test_up_runs_the_market_and_sigterm_stops_every_process_in_order(tmp_path: Path) -> None:
    env = worker_env(tmp_path / "data", REDIS_PORT=str(free_port()))
    up = Command(["up", "--no-ui", "--no-live", "--speed", "600", "--for", "120"], env)
    try:
        up.wait_for("up in", 120)
        # At 600x the open is a second away: the session changes and the book trails.
        up.wait_for("session -> REGULAR", 30)
        up.wait_for("stop trailed", 30)
        started = descendants(up.proc.pid)
        groups = {g for pid in started if (g := pgid(pid)) is not None}
        # One process group for all it started, not the command's own (the terminal's).
        assert len(groups) == 1 and pgid(up.proc.pid) not in groups
        assert any("redis-server" in Path(f"/proc/{p}/cmdline").read_text() for p in started)
    finally:
        code = up.terminate()
    assert code == 0, up.output
    assert_nothing_survives(started, groups)
    log = (tmp_path / "data" / "logs" / "up.log").read_text()
    parts = ("worker", "market", "simulator", "redis")
    stops = [log.index(f'msg="stopped" process={name}') for name in parts]
    assert stops == sorted(stops), log
    worker_log = (tmp_path / "data" / "logs" / "worker.log").read_text()
    assert "Connection refused" not in worker_log and "worker stopped" in worker_log


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PM_UI_TEST") != "1",
    reason="a minute of dagster dev on a loaded 2-core machine: PM_UI_TEST=1 runs it",
)
def test_ui_sigterm_stops_dagster_its_servers_and_redis(tmp_path: Path) -> None:
    """The bug this replaces: SIGTERM on `ui` left `dagster dev`, the webserver (still serving
    the port), the daemon, the code server and redis-server running. (`up` stops Dagster with
    the same function, `stop_dagster`.)"""
    port = free_port()
    env = worker_env(tmp_path / "data", REDIS_PORT=str(free_port()))
    ui = Command(["ui", "--port", str(port)], env)
    try:
        wait_until(lambda: ui.proc.poll() is None and ui_answers(port), 150, "the UI never served")
        started = descendants(ui.proc.pid)
        groups = {g for pid in started if (g := pgid(pid)) is not None}
        assert len(groups) == 1 and pgid(ui.proc.pid) not in groups
    finally:
        code = ui.terminate()
    assert code == 0, ui.output
    assert_nothing_survives(started, groups)
    assert not ui_answers(port)
    assert " - DEBUG - " not in ui.output and "BetaWarning" not in ui.output
