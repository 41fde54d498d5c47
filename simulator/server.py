"""Start the simulator on a free local port in a background thread (uvicorn), and stop it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import Any

import uvicorn

from simulator.app import build_app
from simulator.config import SimulatorConfig
from simulator.core import Simulator


class SimulatorHandle:
    """A running simulator: `.url` for `url_override`, `.simulator` for direct control."""

    def __init__(
        self, simulator: Simulator, server: uvicorn.Server, thread: threading.Thread, url: str
    ) -> None:
        self.simulator = simulator
        self.url = url
        self._server = server
        self._thread = thread

    @property
    def api_key(self) -> str:
        return self.simulator.config.api_key

    @property
    def secret_key(self) -> str:
        return self.simulator.config.secret_key

    def stop(self) -> None:
        """Stop serving, stop the quote feed and write the final snapshot."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.simulator.stop()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> SimulatorHandle:
    """Serve a simulator (port 0: a free one) and return once it accepts connections.

    `overrides` replace fields of `config`, e.g. `start_simulator(redis_url=url, rate_limit=50)`.
    """
    cfg = replace(config or SimulatorConfig(), **overrides)
    simulator = Simulator(cfg)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(simulator),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sim-http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Alpaca simulator did not start")
        time.sleep(0.01)
    simulator.start_background()
    return SimulatorHandle(simulator, server, thread, f"http://{host}:{bound_port}")
