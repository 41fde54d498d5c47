"""`position-manager up`: the whole system, running, against one book, until Ctrl-C / SIGTERM.

In start order: a local Redis (unless one answers), the Alpaca simulator in this process (no
keys) or Alpaca itself (keys), the first risk refresh (the Dagster chain in-process, recorded in
the UI's instance), the worker (`python -m app.worker`), the Dagster webserver and daemon
(`dagster dev`, every schedule and sensor on), and, on the simulator, the moving market
(`simulator.market.MarketDriver`). Then a live table of the book until asked to stop.

Every child process is in one process group (`app.processes`), apart from the terminal's: a
Ctrl-C reaches only this process, which stops them in dependency order (Dagster, the worker, the
market, the simulator, Redis last) and then sweeps the group, so nothing is left running. Logs
go to DATA_DIR/logs/ (up.log, worker.log, dagster.log): the terminal is the table's.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.live import Live

from app.dagster_ui import (
    dagster_dev_args,
    dagster_env,
    dagster_home,
    stop_dagster,
    ui_answers,
    ui_url,
)
from app.live_table import BookView
from app.processes import ProcessGroup
from book.health import worker_status
from position_manager.config import BrokerKind, Settings
from position_manager.errors import PositionManagerError
from position_manager.local_redis import RedisServer, ensure_redis
from position_manager.logging import log_kv
from position_manager.market_calendar import NEW_YORK
from rules.params import RuleParams

log = logging.getLogger("app.up")

WORKER_START_SECONDS = 90.0


class StartupError(PositionManagerError):
    """A part of the system did not come up; the message says which and where its log is."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    speed: float = 60.0  # simulated seconds per real second (the simulator only)
    seed: int = 0  # the market's paths
    seconds: float | None = None  # stop by itself after this long (tests, a bounded demo)
    ui: bool = True  # the Dagster webserver and daemon
    port: int = 3000  # the Dagster UI on 127.0.0.1
    live: bool = True  # the live table; without, one line per decision
    start: datetime | None = None  # the market's first simulated moment


def log_dir(settings: Settings) -> Path:
    path = settings.data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _log_to_file(path: Path, level: str) -> None:
    """This process's log lines into `path`; the terminal keeps only the table."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(
        logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # Dagster's own Beta/Supersession notes are for this project's developers, not its users.
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.SupersessionWarning)


class Up:
    """One `up`: starts the parts, shows the book, stops everything (see the module doc)."""

    def __init__(self, settings: Settings, options: UpOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.stopping = threading.Event()
        self.group = ProcessGroup()
        self.logs = log_dir(settings)
        self.redis_url = ""
        self.redis_server: RedisServer | None = None
        self.sim: Any = None  # SimulatorHandle, on the embedded defaults
        self.market: Any = None  # MarketDriver
        self.worker: subprocess.Popen[bytes] | None = None
        self.dagster: subprocess.Popen[bytes] | None = None
        self.client: redis.Redis | None = None
        self._start_at: datetime | None = None

    @property
    def simulated(self) -> bool:
        return self.settings.broker_kind is BrokerKind.SIMULATOR

    def say(self, message: str) -> None:
        self.console.print(f"[bold cyan]>[/] {message}")
        log_kv(log, logging.INFO, message)

    # --- the whole run -------------------------------------------------------------------------
    def run(self) -> int:
        _log_to_file(self.logs / "up.log", self.settings.log_level)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        started = time.monotonic()
        try:
            self.start_all()
            self.say(
                f"up in {time.monotonic() - started:.0f} s"
                + (f"; Dagster UI: {ui_url(self.options.port)}" if self.options.ui else "")
                + f"; logs in {self.logs}; Ctrl-C stops everything"
            )
            self.show()
            return 0
        except StartupError as exc:
            self.console.print(f"[red]failed:[/] {exc}")
            return 1
        except PositionManagerError as exc:
            self.console.print(f"[red]failed:[/] {exc}")
            return 1
        finally:
            self.stop_all()

    def start_all(self) -> None:
        self.say("starting Redis")
        url, server = ensure_redis(self.settings, process_group=self.group.popen_group())
        self.redis_url, self.redis_server = url, server
        if server is not None and server.process is not None:
            self.group.adopt(server.process.pid)
        self.client = redis.Redis.from_url(url)
        self._check_stopping()
        broker_url = self.start_simulator() if self.simulated else None
        self._check_stopping()
        self.say("first risk refresh: bars -> ATR -> risk parameters (Dagster, in-process)")
        self.refresh(broker_url)
        self._check_stopping()
        self.say("starting the worker")
        self.start_worker()
        if self.options.ui:
            self.say(f"starting the Dagster UI and daemon on {ui_url(self.options.port)}")
            self.dagster = self.group.spawn(
                "dagster",
                dagster_dev_args(dagster_home(self.settings), self.options.port, log_level="info"),
                env=dagster_env(self.settings, url if server is not None else None),
                log_path=self.logs / "dagster.log",
            )
        if self.sim is not None:
            from simulator.market import MarketDriver

            self.market = MarketDriver(
                self.sim.simulator,
                self.client,
                speed=self.options.speed,
                seed=self.options.seed,
                watchlist=self.settings.watchlist,
                start=self._start_at,
            ).start()
            self.say(f"market playing at {self.options.speed:g}x from {self._start_label()}")

    def _check_stopping(self) -> None:
        if self.stopping.is_set():
            raise StartupError("stopped while starting")

    # --- the parts -----------------------------------------------------------------------------
    def start_simulator(self) -> str:
        from simulator import start_simulator
        from simulator.embedded import simulator_answers, simulator_url
        from simulator.market import played_until, resume_start

        url = simulator_url(self.settings)
        if simulator_answers(url):
            raise StartupError(
                f"a simulator already answers at {url} (a `position-manager worker` or `ui`?): "
                "stop it first, `up` runs the simulator and its market itself"
            )
        self.say(f"starting the Alpaca simulator on {url}")
        self.sim = start_simulator(
            port=self.settings.simulator_port,
            redis_url=self.redis_url,
            consume_quotes=False,  # the market feeds it directly, before the quote stream
            snapshot_path=self.settings.data_dir / "simulator.json",
        )
        if not self.sim.simulator.engine.book.positions:
            self.sim.simulator.seed_positions()
            self.say("demo book opened in the simulator")
        assert self.client is not None
        self._start_at = self.options.start or resume_start(played_until(self.client))
        # Frozen until everything is up, so the worker sees the open happen.
        self.sim.simulator.set_clock(at=self._start_at, speed=0)
        return str(self.sim.url)

    def _start_label(self) -> str:
        at = self._start_at or datetime.now(UTC)
        return f"{at.astimezone(NEW_YORK):%Y-%m-%d %H:%M} New York"

    def refresh(self, broker_url: str | None) -> None:
        import dagster as dg

        from pipelines.materialize import materialize_everything

        # Bars up to the day before the market's first day; never past yesterday, the last
        # daily partition that exists (a resumed market may run ahead of the calendar).
        today = datetime.now(UTC).astimezone(NEW_YORK).date()
        day = min((self._start_at or datetime.now(UTC)).astimezone(NEW_YORK).date(), today)
        instance = dg.DagsterInstance.from_config(str(dagster_home(self.settings)))
        try:
            result = materialize_everything(
                self.settings,
                broker_url=broker_url,
                redis_url=self.redis_url,
                last=day - timedelta(days=1),
                log_level="WARNING",
                instance=instance,
                raise_on_error=False,
            )
        finally:
            instance.dispose()
        if not result.success:
            self.say("[yellow]the first risk refresh failed: stops use the fallback until the "
                     "next refresh (see the Dagster UI's runs)[/]")  # fmt: skip

    def start_worker(self) -> None:
        # The session is read from the broker's clock: on a fast simulated clock, often enough
        # to see the open within two simulated minutes (and never more than once a second).
        interval = 15.0 if not self.simulated else max(1.0, min(15.0, 120.0 / self.options.speed))
        env = {**os.environ}
        if self.redis_server is not None:
            env["REDIS_URL"] = self.redis_url
        self.worker = self.group.spawn(
            "worker",
            [sys.executable, "-m", "app.worker", "--session-interval", f"{interval:g}"],
            env=env,
            log_path=self.logs / "worker.log",
        )
        assert self.client is not None
        deadline = time.monotonic() + WORKER_START_SECONDS
        while not worker_status(self.client).alive:
            if self.worker.poll() is not None:
                raise StartupError(
                    f"the worker exited ({self.worker.returncode}): see {self.logs / 'worker.log'}"
                )
            if time.monotonic() > deadline or self.stopping.wait(0.1):
                raise StartupError("the worker did not start (no heartbeat)")

    # --- showing -------------------------------------------------------------------------------
    def market_time(self) -> datetime:
        if self.sim is not None:
            return self.sim.simulator.clock.now()  # type: ignore[no-any-return]
        return datetime.now(UTC)

    def show(self) -> None:
        assert self.client is not None
        view = BookView(
            self.client,
            RuleParams.from_settings(self.settings),
            market_time=self.market_time,
            title="position-manager up",
        )
        deadline = None if self.options.seconds is None else time.monotonic() + self.options.seconds
        if self.options.live:
            with Live(view.render(), console=self.console, refresh_per_second=4) as live:

                def redraw() -> None:
                    view.drain()
                    live.update(view.render())

                self._loop(view, deadline, redraw)
            self.console.print()
        else:

            def lines() -> None:
                for line in view.drain():
                    self.console.print(line)

            self._loop(view, deadline, lines)

    def _loop(self, view: BookView, deadline: float | None, draw: Callable[[], None]) -> None:
        while not self.stopping.is_set():
            view.footer = self._footer()
            view.poll()
            draw()
            if deadline is not None and time.monotonic() >= deadline:
                return
            self.stopping.wait(0.5)

    def _footer(self) -> list[str]:
        notes = []
        if self.worker is not None and self.worker.poll() is not None:
            notes.append(f"[red]the worker exited ({self.worker.returncode}): see worker.log[/]")
        if self.dagster is not None:
            if self.dagster.poll() is not None:
                notes.append(f"[red]Dagster exited ({self.dagster.returncode}): see dagster.log[/]")
            elif ui_answers(self.options.port, timeout=0.2):
                notes.append(f"Dagster UI: {ui_url(self.options.port)}")
            else:
                notes.append(f"Dagster UI starting on {ui_url(self.options.port)} ...")
        return notes

    # --- stopping ------------------------------------------------------------------------------
    def stop_all(self) -> None:
        """Dagster, the worker, the market, the simulator, Redis; then whatever is left."""
        self.console.print("[bold cyan]>[/] stopping: Dagster, worker, market, simulator, Redis")
        if self.dagster is not None:
            later = [p.pid for p in (self.worker,) if p is not None]
            if self.redis_server is not None and self.redis_server.process is not None:
                later.append(self.redis_server.process.pid)
            stop_dagster(self.group, self.dagster, keep=later)
        if self.worker is not None:
            self.group.stop("worker", self.worker, signal.SIGTERM, timeout=20)
        if self.market is not None:
            self.market.stop()
            log_kv(log, logging.INFO, "stopped", process="market", quotes=self.market.quotes)
        if self.sim is not None:
            self.sim.stop()
            log_kv(log, logging.INFO, "stopped", process="simulator")
        if self.client is not None:
            self.client.close()
        if self.redis_server is not None:
            self.redis_server.stop()
            log_kv(log, logging.INFO, "stopped", process="redis")
        left = self.group.sweep()
        if left:
            self.console.print(f"[yellow]ended {len(left)} processes still running: {left}[/]")
        self.console.print("[bold cyan]>[/] stopped")
