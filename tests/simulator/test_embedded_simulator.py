"""One embedded simulator per machine: the first process starts it, the others find it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from broker.factory import build_broker
from position_manager.config import Settings, load_settings
from position_manager.local_redis import ensure_redis, free_port
from simulator import start_simulator
from simulator.embedded import ensure_simulator
from tests.support.simulator import make_broker


def test_first_caller_starts_and_seeds_the_next_finds_it(
    settings: Settings, redis_url: str
) -> None:
    url, handle = ensure_simulator(settings, redis_url)
    try:
        assert handle is not None and url.endswith(f":{settings.simulator_port}")
        again_url, again = ensure_simulator(settings, redis_url)
        assert again is None and again_url == url
        held = {p.symbol for p in build_broker(settings, base_url=url).list_positions()}
        assert {"AAPL", "XOM", "BNGO"} <= held
    finally:
        assert handle is not None
        handle.stop()
    assert (settings.data_dir / "simulator.json").exists()


def test_a_restarted_simulator_keeps_its_book_and_is_not_seeded_twice(
    settings: Settings, redis_url: str
) -> None:
    url, handle = ensure_simulator(settings, redis_url)
    assert handle is not None
    broker = build_broker(settings, base_url=url)
    first = {p.symbol: p.qty for p in broker.list_positions()}
    handle.stop()
    url, handle = ensure_simulator(settings, redis_url)
    assert handle is not None
    try:
        assert {
            p.symbol: p.qty for p in build_broker(settings, base_url=url).list_positions()
        } == first
    finally:
        handle.stop()


def test_a_port_taken_by_something_else_is_an_error(settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.simulator_port))
        squatter.listen()
        with pytest.raises(OSError):
            ensure_simulator(settings, None)


def test_embedded_redis_takes_the_configured_port_when_free(tmp_path: Path) -> None:
    port = free_port()
    url, server = ensure_redis(load_settings(redis_port=port, data_dir=tmp_path))
    try:
        assert server is not None and f":{port}/" in url
    finally:
        assert server is not None
        server.stop()


def test_a_faulted_and_rate_limited_simulator_is_still_found_without_spending_its_budget(
    settings: Settings,
) -> None:
    """A restarted worker looks for the machine's simulator while the broker is faulted (5xx on
    every request, 2 s latency) and its budget is spent: it must find it (not try to bind the
    taken port and exit 1), and the probe must not count as an Alpaca request."""
    handle = start_simulator(port=settings.simulator_port, lifecycle="instant", rate_limit=1)
    try:
        broker = make_broker(handle)
        broker.get_clock()  # spends the one request a minute
        handle.simulator.set_faults(error_rate=1.0, error_status=503, latency_ms=2000)
        before = handle.simulator.stats["requests"]
        url, started = ensure_simulator(settings, None)
        assert started is None and url.endswith(f":{settings.simulator_port}")
        assert handle.simulator.stats["requests"] == before
    finally:
        handle.stop()


def test_the_health_probe_says_only_what_it_is() -> None:
    with start_simulator(lifecycle="instant") as handle:
        answer = requests.get(f"{handle.url}/sim/health", timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"simulator": "position-manager"}
