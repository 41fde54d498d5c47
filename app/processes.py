"""The processes one `up` or `ui` starts: one process group, stopped in order, nothing left.

Every child goes into one process group of its own, apart from the terminal's foreground group:
a Ctrl-C reaches only the command itself, which then stops its children in dependency order
(the Dagster UI before the worker, the worker before Redis) instead of the terminal killing all
of them at once (Redis first, the others then logging connection errors). Grandchildren the
children start (Dagster's webserver, daemon, code server, run workers) inherit the group, so a
final sweep of the group (`sweep`) ends whatever a child failed to stop, and `kill -- -PGID`
cleans up after a command that was itself killed with -9.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from position_manager.logging import log_kv

log = logging.getLogger(__name__)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


class ProcessGroup:
    """Children of one command, in one process group (the first child's pid is its id)."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self._logs: list[IO[bytes]] = []
        self._pumps: list[threading.Thread] = []

    def popen_group(self) -> int:
        """The `process_group=` for the next child: 0 (a new group) for the first, then ours."""
        return self.pgid if self.pgid is not None else 0

    def adopt(self, pid: int) -> None:
        """Record a child started with `popen_group()`; the first one's pid names the group."""
        if self.pgid is None:
            self.pgid = pid
            log_kv(log, logging.INFO, "process group", pgid=pid)

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: dict[str, str],
        log_path: Path | None,
        echo: Callable[[str], bool] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `args` in the group, its output to `log_path` (None: this terminal). With
        `echo`, every line goes to the log and the lines it accepts to this terminal too."""
        out: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = log_path.open("ab")
            self._logs.append(out)
        proc = subprocess.Popen(
            list(args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if echo is not None else out,
            stderr=subprocess.STDOUT if out is not None else None,
            process_group=self.popen_group(),
        )
        if echo is not None:
            assert proc.stdout is not None
            pump = threading.Thread(
                target=_tee, args=(proc.stdout, out, echo), name=f"{name}-output", daemon=True
            )
            pump.start()
            self._pumps.append(pump)
        self.adopt(proc.pid)
        log_kv(log, logging.INFO, "started", process=name, pid=proc.pid)
        return proc

    def stop(
        self, name: str, proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15
    ) -> int | None:
        """Signal one child, wait for it (then SIGKILL after `timeout`); its exit code."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log_kv(log, logging.WARNING, "did not stop in time, killing", process=name)
                proc.kill()
                proc.wait(timeout=5)
        log_kv(log, logging.INFO, "stopped", process=name, code=proc.returncode)
        return proc.returncode

    def sweep(self, keep: Iterable[int] = (), timeout: float = 5.0) -> list[int]:
        """SIGTERM, then SIGKILL, whatever is left in the group but `keep` (children still to
        be stopped in their turn); returns the pids that were left. The last sweep of a
        command keeps nothing and closes the logs."""
        if self.pgid is None:
            return []
        kept = set(keep)

        def left() -> list[int]:
            assert self.pgid is not None
            return [pid for pid in group_members(self.pgid) if pid not in kept]

        found = left()
        if found:
            log_kv(log, logging.INFO, "ending processes left in the group", pids=found)
            _signal(found, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while left() and time.monotonic() < deadline:
                time.sleep(0.05)
            _signal(left(), signal.SIGKILL)
        if not kept:
            for pump in self._pumps:
                pump.join(timeout=2)
            for out in self._logs:
                out.close()
            self._logs, self._pumps = [], []
        return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _tee(source: IO[bytes], log_file: IO[bytes] | None, echo: Callable[[str], bool]) -> None:
    """Copy a child's output to its log and the accepted lines to this terminal."""
    for raw in iter(source.readline, b""):
        if log_file is not None:
            log_file.write(raw)
            log_file.flush()
        line = raw.decode(errors="replace")
        if echo(line):
            sys.stdout.write(line)
            sys.stdout.flush()
    source.close()
