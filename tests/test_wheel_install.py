"""Installs like a package: the wheel, installed outside the source tree (non-editable), runs
`position-manager --help` and `config`, and carries the Dagster instance settings `ui` needs.

Bounded: the wheel is built without dependencies (pip's isolated build of this project only),
and the fresh venv borrows the project venv's installed dependencies through a `.pth` line
instead of downloading them. That line adds the directory alone (its own `.pth` files, the
editable install's among them, are not processed), so `app` can only come from the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "app", "book", "broker", "pipelines",
           "position_manager", "rules", "simulator", "streaming", "warehouse")  # fmt: skip


def run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_wheel_installed_elsewhere_runs_help_and_config(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: the build leaves build/ and egg-info behind
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", "."], source, env)
    wheel = next((tmp_path / "dist").glob("position_manager-*.whl"))

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    run([*pip, "--python", python, "install", "--no-deps", "-q", wheel], tmp_path, env)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
               tmp_path, env).strip()  # fmt: skip
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.update(DATA_DIR=str(elsewhere / "data"), PM_ENV_FILE="")
    where = run([python, "-c", "import app, pipelines; print(app.__file__, pipelines.__file__)"],
                elsewhere, env)  # fmt: skip
    assert all(path.startswith(site) for path in where.split()), where

    cli = venv / "bin" / "position-manager"
    help_text = run([cli, "--help"], elsewhere, env)
    assert "ATR-sized stop" in help_text and "sql" in help_text
    config = run([cli, "config"], elsewhere, env)
    assert config.startswith("# broker: simulator") and "ALERT_URLS=None  # default" in config
    prepare = (
        "from pathlib import Path; from app.dagster_home import prepare_dagster_home as p; "
        "print(p(Path('dagster_home')))"
    )
    home = run([python, "-c", prepare], elsewhere, env)
    workspace = Path(elsewhere, home.strip())
    assert "module_name: pipelines.definitions" in workspace.read_text()
    assert "pools:" in (workspace.parent / "dagster.yaml").read_text()
