"""`GET /v2/account/activities/FILL` as Alpaca serves it: the fills a worker that missed trade
updates reads back. Each rule cites Alpaca's OpenAPI spec (`/work/shared/alpaca-openapi/
trading-api.json`, operation `getAccountActivitiesByActivityType`, schema `TradingActivities`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from position_manager.market_calendar import NEW_YORK
from simulator import EngineConfig, SimulatorConfig, SimulatorHandle, start_simulator
from simulator.snapshot import book_from_json, book_to_json
from tests.support.openapi import check_schema
from tests.support.simulator import REGULAR_OPEN_MORNING, make_broker

D = Decimal
FILLS = "/v2/account/activities/FILL"


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[Any]:
    session = requests.Session()
    session.headers.update({"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key})

    def call(path: str, **params: Any) -> requests.Response:
        return session.get(f"{sim.url}{path}", params=params, timeout=5)

    yield call
    session.close()


def _sell(sim: SimulatorHandle, n: int, qty: int = 5) -> list[str]:
    """`n` market sells of AAPL (the instant simulator fills each in its submit)."""
    ids = []
    for i in range(n):
        order = sim.simulator.engine.submit(
            {"symbol": "AAPL", "qty": str(qty), "side": "sell", "type": "market",
             "time_in_force": "day", "client_order_id": f"sell-{i}"}
        )  # fmt: skip
        assert order.status == "filled"
        ids.append(order.id)
    return ids


def _hold_aapl(sim: SimulatorHandle, qty: int = 50) -> None:
    sim.simulator.seed_positions([("AAPL", D(qty), D("185"))], marks={"AAPL": D("190")})


def test_a_fill_activity_has_alpacas_schema_and_fields(sim: SimulatorHandle, api: Any) -> None:
    _hold_aapl(sim)
    (order_id,) = _sell(sim, 1)
    response = api(FILLS)
    assert response.status_code == 200
    (entry,) = response.json()
    check_schema("trading-api.json", "TradingActivities", entry)
    assert entry["activity_type"] == "FILL" and entry["type"] == "fill"
    assert (entry["order_id"], entry["symbol"], entry["side"]) == (order_id, "AAPL", "sell")
    assert (entry["qty"], entry["cum_qty"], entry["leaves_qty"]) == ("5", "5", "0")
    assert entry["price"] == "189.99" and entry["order_status"] == "filled"  # at the bid
    # "An id for the activity. Always in '::' format"; the spec's example pairs the id
    # 20220202135509981::... with transaction_time 2022-02-02T18:55:09.981482Z: New York time.
    stamp, _, tail = entry["id"].partition("::")
    assert re.fullmatch(r"\d{17}", stamp) and re.fullmatch(r"[0-9a-f-]{36}", tail)
    at = datetime.fromisoformat(entry["transaction_time"].replace("Z", "+00:00"))
    assert stamp == at.astimezone(NEW_YORK).strftime("%Y%m%d%H%M%S%f")[:17]


def test_partial_fills_carry_the_cumulative_quantity() -> None:
    """`cum_qty`: "The cumulative quantity of shares involved in the execution"; `leaves_qty`:
    what is left; `type`: "fill or partial_fill"."""
    engine = EngineConfig(lifecycle="instant", partial_fill_qty=D(2))
    with start_simulator(
        SimulatorConfig(engine=engine),
        lifecycle="instant",
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0.0,
        rate_limit=10_000,
    ) as sim:
        _hold_aapl(sim)
        order = sim.simulator.engine.submit(
            {"symbol": "AAPL", "qty": "5", "side": "sell", "type": "limit",
             "limit_price": "180", "time_in_force": "day", "client_order_id": "part"}
        )  # fmt: skip
        for _ in range(2):
            sim.simulator.feed_quote("AAPL", "190", "190.02", "190.01")
        fills = make_broker(sim).list_fill_activities(REGULAR_OPEN_MORNING - timedelta(hours=1))
    assert [(f.qty, f.cum_qty, f.leaves_qty, f.kind) for f in fills] == [
        (D(2), D(2), D(3), "partial_fill"),
        (D(2), D(4), D(1), "partial_fill"),
        (D(1), D(5), D(0), "fill"),
    ]
    assert {f.order_id for f in fills} == {order.id}
    assert [f.completes_order for f in fills] == [False, False, True]


def test_activities_are_newest_first_by_default_and_page_by_token(
    sim: SimulatorHandle, api: Any
) -> None:
    _hold_aapl(sim)
    ids = _sell(sim, 3)
    # "direction ... default: desc"
    assert [e["order_id"] for e in api(FILLS).json()] == ids[::-1]
    # "page_token: the ID of the last activity from the last page" starts the next page after it
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"direction": "asc", "page_size": 1}
        if token:
            params["page_token"] = token
        page = api(FILLS, **params).json()
        if not page:
            break
        pages.append([e["order_id"] for e in page])
        token = page[-1]["id"]
    assert pages == [[ids[0]], [ids[1]], [ids[2]]]


def test_after_and_until_are_exclusive_and_accept_both_formats(
    sim: SimulatorHandle, api: Any
) -> None:
    _hold_aapl(sim)
    _sell(sim, 2)
    at = REGULAR_OPEN_MORNING  # the frozen clock: every fill is stamped with it
    second = timedelta(seconds=1)
    assert len(api(FILLS, after=(at - second).strftime("%Y-%m-%dT%H:%M:%SZ")).json()) == 2
    assert api(FILLS, after=at.strftime("%Y-%m-%dT%H:%M:%SZ")).json() == []
    assert api(FILLS, until=at.strftime("%Y-%m-%dT%H:%M:%SZ")).json() == []
    assert len(api(FILLS, after=(at - timedelta(days=1)).date().isoformat()).json()) == 2


@pytest.mark.parametrize(
    "params",
    [{"page_size": 101}, {"page_size": 0}, {"direction": "up"}, {"page_token": "nope"}],
)
def test_activities_refuse_what_the_spec_does_not_allow(
    sim: SimulatorHandle, api: Any, params: dict[str, Any]
) -> None:
    """page_size: minimum 1, maximum 100; direction: asc | desc; a page token names an entry."""
    response = api(FILLS, **params)
    assert response.status_code == 422
    check_schema("trading-api.json", "Error", response.json())


def test_other_activity_types_are_empty_and_unknown_ones_refused(
    sim: SimulatorHandle, api: Any
) -> None:
    _hold_aapl(sim)
    _sell(sim, 1)
    assert api("/v2/account/activities/DIV").json() == []  # in the ActivityType enum
    assert api("/v2/account/activities/NOPE").status_code == 422


def test_the_adapter_reads_every_page_of_fills(sim: SimulatorHandle) -> None:
    """Past 100 (the spec's maximum page_size) the adapter follows page_token."""
    _hold_aapl(sim, qty=150)
    ids = _sell(sim, 150, qty=1)
    broker = make_broker(sim)
    before = broker.http_requests
    fills = broker.list_fill_activities(REGULAR_OPEN_MORNING - timedelta(minutes=5))
    assert [f.order_id for f in fills] == ids  # oldest first, none twice
    assert broker.http_requests - before == 2
    assert all(f.price == D("189.99") and f.qty == 1 for f in fills)


def test_fills_survive_a_snapshot(sim: SimulatorHandle) -> None:
    _hold_aapl(sim)
    _sell(sim, 2)
    book = sim.simulator.engine.book
    assert book_from_json(book_to_json(book)).fills == book.fills
