"""Reading the process tree from /proc: what a command started, and whether any of it lives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` in the parent tree."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent is not)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def isolated_env(redis_url: str, data_dir: Path, **env: str) -> dict[str, str]:
    """This environment without the developer's Alpaca, Redis or alert settings, on the test's
    Redis and data directory (and `env` on top)."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "REDIS_", "ALERT"))
    }
    clean.update(REDIS_URL=redis_url, DATA_DIR=str(data_dir), **env)
    return clean


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` if a test left it running, and close its output pipe."""
    if proc.poll() is None:
        proc.kill()
    if proc.stdout:
        proc.stdout.close()


def start_worker_process(
    redis_url: str, data_dir: Path, name: str, **env: str
) -> subprocess.Popen[bytes]:
    """`python -m app.worker` as its own process on the test's Redis and data directory, with
    none of the developer's Alpaca, Redis or alert settings (and `env` on top)."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.worker"],
        env=isolated_env(redis_url, data_dir, PM_WORKER_NAME=name, **env),
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
