"""The simulator's JSON validates against Alpaca's official OpenAPI schemas (the check, with
its nullable translation, is `tests.support.openapi`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from simulator import EngineConfig, SimulatorConfig, SimulatorHandle, start_simulator
from tests.support.openapi import check_schema as _check
from tests.support.simulator import REGULAR_OPEN_MORNING

D = Decimal


@pytest.fixture
def api(sim: SimulatorHandle) -> Any:
    session = requests.Session()
    session.headers.update({"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key})

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return session.request(method, f"{sim.url}{path}", timeout=5, **kwargs)

    yield call
    session.close()


def test_the_translation_still_rejects_wrong_shapes() -> None:
    with pytest.raises(AssertionError):
        _check("trading-api.json", "Position", {"symbol": "AAPL", "qty": 5})


def test_orders_of_every_kind_and_state_match_the_order_schema(
    sim: SimulatorHandle, api: Any
) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    bodies = [
        {"symbol": "AAPL", "qty": 5, "side": "sell", "type": "market", "time_in_force": "day"},
        {
            "symbol": "AAPL",
            "qty": 5,
            "side": "sell",
            "type": "limit",
            "limit_price": 250,
            "time_in_force": "gtc",
        },
        {
            "symbol": "AAPL",
            "qty": 5,
            "side": "sell",
            "type": "stop",
            "stop_price": 170,
            "time_in_force": "gtc",
        },
        {
            "symbol": "AAPL",
            "qty": 5,
            "side": "sell",
            "type": "stop_limit",
            "stop_price": 170,
            "limit_price": 169,
            "time_in_force": "gtc",
        },
        {
            "symbol": "AAPL",
            "qty": 5,
            "side": "sell",
            "type": "trailing_stop",
            "trail_percent": 5,
            "time_in_force": "gtc",
        },
    ]
    created = [api("POST", "/v2/orders", json=b).json() for b in bodies]
    replaced = api("PATCH", f"/v2/orders/{created[2]['id']}", json={"stop_price": 172}).json()
    assert api("DELETE", f"/v2/orders/{created[1]['id']}").status_code == 204
    listed = api("GET", "/v2/orders", params={"status": "all", "limit": 500}).json()
    assert {o["status"] for o in listed} == {"filled", "new", "replaced", "canceled"}
    for body in [*created, replaced, *listed]:
        _check("trading-api.json", "Order", body)


def test_positions_account_clock_calendar_match_their_schemas(
    sim: SimulatorHandle, api: Any
) -> None:
    sim.simulator.seed_positions(marks={"AAPL": D("190"), "XOM": D("110")})
    positions = api("GET", "/v2/positions").json()
    assert {p["side"] for p in positions} == {"long", "short"}
    for body in positions:
        _check("trading-api.json", "Position", body)
    _check("trading-api.json", "Position", api("GET", "/v2/positions/BNGO").json())
    _check("trading-api.json", "Account", api("GET", "/v2/account").json())
    _check("trading-api.json", "legacy_clock", api("GET", "/v2/clock").json())
    calendar = api("GET", "/v2/calendar", params={"start": "2025-01-01", "end": "2025-01-31"})
    _check("trading-api.json", "legacy_public_calendar_resp", calendar.json())


def test_errors_match_the_error_schema(sim: SimulatorHandle, api: Any) -> None:
    sim.simulator.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    too_many = api(
        "POST",
        "/v2/orders",
        json={
            "symbol": "AAPL",
            "qty": 11,
            "side": "sell",
            "type": "market",
            "time_in_force": "day",
        },
    )
    assert too_many.status_code == 403
    body = too_many.json()
    _check("trading-api.json", "Error", body)
    assert body["code"] == 40310000
    assert body["message"] == "insufficient qty available for order (requested: 11, available: 10)"
    assert (body["held_for_orders"], body["existing_qty"], body["available"]) == ("0", "10", "10")
    missing = api("GET", "/v2/orders/6f1c8f5e-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    _check("trading-api.json", "Error", missing.json())


def test_bars_pages_match_the_market_data_schema(sim: SimulatorHandle, api: Any) -> None:
    params = {
        "symbols": "AAPL,SNDL,NOPE",
        "timeframe": "1Day",
        "start": "2025-01-02",
        "end": "2025-02-27",
        "limit": 30,
    }
    first = api("GET", "/v2/stocks/bars", params=params).json()
    _check("market-data-api.json", "stock_bars_resp", first)
    assert sum(len(v) for v in first["bars"].values()) == 30
    assert first["next_page_token"]
    second = api(
        "GET", "/v2/stocks/bars", params={**params, "page_token": first["next_page_token"]}
    )
    body = second.json()
    _check("market-data-api.json", "stock_bars_resp", body)
    assert "NOPE" not in body["bars"]
    assert sum(len(v) for v in body["bars"].values()) == 30
    assert body["bars"]["AAPL"][0]["t"] > first["bars"]["AAPL"][-1]["t"]


def test_latest_trades_match_the_market_data_schema(sim: SimulatorHandle, api: Any) -> None:
    """`GET /v2/stocks/trades/latest` (StockLatestTrades): the data feed's last print per
    symbol; a symbol without one is left out; `symbols` is required (400)."""
    sim.simulator.feed_quote("AAPL", D("189.99"), D("190.01"), D("190.00"))
    body = api("GET", "/v2/stocks/trades/latest", params={"symbols": "AAPL,NOPE"}).json()
    _check("market-data-api.json", "stock_latest_trades_resp", body)
    assert list(body["trades"]) == ["AAPL"] and body["trades"]["AAPL"]["p"] == 190.0
    assert api("GET", "/v2/stocks/trades/latest").status_code == 400


def test_realistic_lifecycle_orders_match_the_order_schema(redis_url: str) -> None:
    """The realistic lifecycle's bodies (pending states, `order_class` "", `position_intent`,
    `expires_at`, fractional timestamps) validate against the same Order schema."""
    handle = start_simulator(
        SimulatorConfig(engine=EngineConfig(lifecycle="realistic", accept_latency_s=0.5)),
        redis_url=redis_url,
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0.0,
        rate_limit=10_000,
    )
    try:
        session = requests.Session()
        session.headers.update(
            {"APCA-API-KEY-ID": handle.api_key, "APCA-API-SECRET-KEY": handle.secret_key}
        )
        url = f"{handle.url}/v2/orders"
        sim = handle.simulator
        sim.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
        base: dict[str, Any] = {"symbol": "AAPL", "qty": 5, "side": "sell", "time_in_force": "gtc"}
        kinds: list[dict[str, Any]] = [
            {"type": "market", "time_in_force": "day"},
            {"type": "limit", "limit_price": 250},
            {"type": "stop", "stop_price": 170},
            {"type": "trailing_stop", "trail_percent": 5},
        ]
        created = [session.post(url, json={**base, **k}, timeout=5).json() for k in kinds]
        sim.advance_clock(1)
        replaced = session.patch(f"{url}/{created[2]['id']}", json={"stop_price": 172}, timeout=5)
        assert session.delete(f"{url}/{created[1]['id']}", timeout=5).status_code == 204
        every = {"status": "all", "limit": "500"}
        pending = session.get(url, params=every, timeout=5).json()
        sim.advance_clock(1)
        landed = session.get(url, params=every, timeout=5).json()
        statuses = {o["status"] for o in pending + landed}
        assert {"filled", "new", "pending_new", "pending_replace", "pending_cancel"} <= statuses
        assert {"replaced", "canceled"} <= statuses
        for body in [*created, replaced.json(), *pending, *landed]:
            assert body["order_class"] == ""
            _check("trading-api.json", "Order", body)
    finally:
        handle.stop()
