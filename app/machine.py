"""Where a measurement came from: the machine (cores, CPU model, load) and the code (commit,
branch, uncommitted changes). Printed above the chaos and benchmark tables and kept with them in
the README, since a figure from a loaded 2-core machine reads differently from an idle one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return (
        f"{os.cpu_count()} cores (nproc), {cpu_model()}, "
        f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"
    )


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def code_state() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown commit"
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no")
    dirty = " + uncommitted changes" if changed else ""
    return f"{commit}{f' ({branch})' if branch else ''}{dirty}"
