"""Every server the project starts listens on 127.0.0.1 only: the embedded redis-server, the
simulator (in-process, embedded, and `python -m simulator`), and the Dagster UI that
`position-manager ui` launches. Checked from the kernel's own table of listening sockets
(/proc/net/tcp and tcp6), not from what the code meant to pass."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app import cli
from app.processes import ProcessGroup
from position_manager.config import Settings, load_settings
from position_manager.local_redis import ensure_redis, free_port
from simulator import start_simulator
from simulator.embedded import ensure_simulator
from tests.support.worker_process import REPO

LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket in LISTEN state on `port` (IPv4 and IPv6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port and len(address) == width:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp's little-endian hex address as text (IPv6 mapped/any forms spelled out)."""
    if len(hex_address) == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    words = [hex_address[i : i + 8] for i in range(0, 32, 8)]
    raw = b"".join(bytes.fromhex(w)[::-1] for w in words)
    return str(ipaddress.IPv6Address(raw))


def test_the_socket_table_reader_sees_a_wildcard_bind() -> None:
    """The check can fail: a socket bound to every interface is reported as such."""
    with socket.create_server(("0.0.0.0", 0)) as sock:
        assert listening_addresses(sock.getsockname()[1]) == {"0.0.0.0"}


def test_the_embedded_redis_binds_loopback(tmp_path: Path) -> None:
    _url, server = ensure_redis(load_settings(redis_port=free_port(), data_dir=tmp_path))
    assert server is not None
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
    finally:
        server.stop()


def test_the_in_process_and_embedded_simulators_bind_loopback(
    settings: Settings, redis_url: str
) -> None:
    with start_simulator(lifecycle="instant") as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}
    _url, embedded = ensure_simulator(settings, redis_url)
    assert embedded is not None
    try:
        assert listening_addresses(settings.simulator_port) == {"127.0.0.1"}
    finally:
        embedded.stop()


def test_python_m_simulator_binds_loopback_by_default() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--lifecycle", "instant"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once it accepts connections
        assert url.startswith("http://127.0.0.1:"), url
        assert listening_addresses(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_position_manager_ui_binds_dagster_redis_and_the_simulator_to_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dagster dev` itself is too heavy for the suite: the command it would run is recorded
    (its webserver host must be 127.0.0.1; its code servers use dagster's `localhost`), and
    while it "runs", the Redis and the simulator `ui` started are looked up in the socket table."""
    redis_port, sim_port = free_port(), free_port()
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "REDIS_URL", "REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_PORT", str(redis_port))
    monkeypatch.setenv("SIMULATOR_PORT", str(sim_port))
    seen: dict[str, Any] = {}

    def dagster_dev(
        group: ProcessGroup, name: str, args: list[str], **_kw: Any
    ) -> subprocess.Popen[bytes]:
        seen["args"] = args
        seen["redis"] = listening_addresses(redis_port)
        seen["simulator"] = listening_addresses(sim_port)
        return subprocess.Popen([sys.executable, "-c", "pass"])  # dagster dev, done at once

    monkeypatch.setattr(ProcessGroup, "spawn", dagster_dev)
    result = CliRunner().invoke(cli.app, ["ui", "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    args = seen["args"]
    assert args[1] == "dev" and args[args.index("-h") + 1] == "127.0.0.1"
    assert seen["redis"] == {"127.0.0.1"} and seen["simulator"] == {"127.0.0.1"}
    assert listening_addresses(redis_port) == set()  # ui stopped what it started
