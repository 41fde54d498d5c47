"""The simulator's `/sim/*` control endpoints (quotes, clock, faults, seed, stats, reset) move
prices, the clock and the book for anyone who can reach the port, without keys. They are off
unless asked for (`SimulatorConfig.control_endpoints`, `python -m simulator --control`,
`PM_SIM_CONTROL=1`): then every control path answers 404 (only `/sim/health` is served),
while Alpaca's `/v2` API and the in-process `handle.simulator` API work as before."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from position_manager.config import Settings
from simulator import SimulatorHandle, start_simulator
from simulator.embedded import ensure_simulator
from tests.support.simulator import make_broker

CONTROL_CALLS = [
    ("POST", "/sim/quotes", [{"symbol": "AAPL", "bid": 1, "ask": 2}]),
    ("GET", "/sim/faults", None),
    ("POST", "/sim/faults", {"error_rate": 1.0}),
    ("DELETE", "/sim/faults", None),
    ("GET", "/sim/clock", None),
    ("POST", "/sim/clock", {"advance_seconds": 3600}),
    ("POST", "/sim/seed", {}),
    ("GET", "/sim/stats", None),
    ("POST", "/sim/stats", None),
    ("POST", "/sim/reset", None),
]


def _statuses(url: str) -> set[int]:
    return {
        requests.request(method, url + path, json=body, timeout=5).status_code
        for method, path, body in CONTROL_CALLS
    }


def _alpaca_clock(handle: SimulatorHandle) -> int:
    headers = {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
    return requests.get(f"{handle.url}/v2/clock", headers=headers, timeout=5).status_code


def test_by_default_every_control_endpoint_is_404_and_the_book_is_untouched() -> None:
    with start_simulator(lifecycle="instant") as handle:
        handle.simulator.seed_positions()
        before = dict(handle.simulator.engine.book.positions)
        assert _statuses(handle.url) == {404}
        assert handle.simulator.engine.book.positions == before  # no reset, no seed
        assert handle.simulator.faults.snapshot()["error_rate"] == 0  # no fault set
        assert _alpaca_clock(handle) == 200


def test_the_in_process_api_works_with_the_endpoints_off() -> None:
    with start_simulator(lifecycle="instant") as handle:
        handle.simulator.seed_positions([("AAPL", Decimal(10), Decimal(100))])
        handle.simulator.set_faults(fail_next=1, error_status=503)
        assert _alpaca_clock(handle) == 503
        assert [p.symbol for p in make_broker(handle).list_positions()] == ["AAPL"]


def test_asked_for_they_are_served() -> None:
    with start_simulator(lifecycle="instant", control_endpoints=True) as handle:
        assert 404 not in _statuses(handle.url)


def test_pm_sim_control_turns_them_on_only_where_the_config_leaves_it_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PM_SIM_CONTROL", "1")
    with start_simulator(lifecycle="instant", control_endpoints=None) as handle:
        assert requests.get(f"{handle.url}/sim/stats", timeout=5).status_code == 200
    with start_simulator(lifecycle="instant") as handle:  # the default is an explicit off
        assert requests.get(f"{handle.url}/sim/stats", timeout=5).status_code == 404


def test_the_embedded_simulator_serves_no_controls_and_is_still_found(
    settings: Settings, redis_url: str
) -> None:
    url, handle = ensure_simulator(settings, redis_url)
    assert handle is not None
    try:
        assert _statuses(url) == {404}
        again_url, again = ensure_simulator(settings, redis_url)
        assert again is None and again_url == url
    finally:
        handle.stop()
