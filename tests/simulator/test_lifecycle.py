"""The realistic order lifecycle (`EngineConfig(lifecycle="realistic")`), one rule per test.

Each docstring names what it imitates: a section of docs/alpaca-notes.md ("alpaca-notes"), an
Alpaca docs page ("orders-at-alpaca", the PATCH / DELETE order reference) or alpaca-py's
fixtures. The clock is frozen; tests move it with `advance` (the simulated clock), never with
sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from position_manager import events
from position_manager.trade_updates import order_event
from simulator import EngineConfig, SimulatorHandle, start_simulator
from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.engine import Engine
from simulator.order_rules import SimApiError
from simulator.updates import TradeUpdate
from tests.support.simulator import REGULAR_OPEN_MORNING

D = Decimal
PRE_MARKET = datetime(2025, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 New York


class Rig:
    """An engine in the realistic lifecycle on a frozen clock, recording its trade updates."""

    def __init__(self, at: datetime = REGULAR_OPEN_MORNING, **config: Any) -> None:
        self.clock = SimClock(at, speed=0.0)
        self.updates: list[TradeUpdate] = []
        self.engine = Engine(
            self.clock, EngineConfig(lifecycle="realistic", **config), on_update=self.updates.append
        )

    def advance(self, seconds: float = 0.1) -> None:
        self.clock.advance(seconds)
        self.engine.process_pending()

    def quote(self, symbol: str, bid: str, ask: str, last: str | None = None) -> None:
        self.engine.feed_quote(symbol, D(bid), D(ask), None if last is None else D(last))

    def events(self, order_id: str | None = None) -> list[str]:
        return [
            u["event"] for u in self.updates if order_id is None or u["order"].get("id") == order_id
        ]

    def submit(self, **payload: Any) -> Any:
        body = {"symbol": "AAPL", "qty": 10, "time_in_force": "day", **payload}
        return self.engine.submit(body)


def stop_sell(rig: Rig, stop: str = "180", qty: int = 10, tif: str = "gtc") -> Any:
    return rig.submit(side="sell", type="stop", stop_price=stop, qty=qty, time_in_force=tif)


@pytest.fixture
def rig() -> Rig:
    rig = Rig()
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    return rig


@pytest.fixture
def slow() -> Rig:
    """Requests take 0.5 s to land, fills 0.05 s: room for a fill while a request is pending."""
    rig = Rig(accept_latency_s=0.5)
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    return rig


# --- submit -------------------------------------------------------------------------------------
def test_submit_answers_new_and_the_fill_arrives_later_as_an_update(rig: Rig) -> None:
    """alpaca-notes "The order lifecycle is asynchronous": submit answers `accepted`/`new`, a
    market order is not `filled` in the answer; fills arrive later as trade updates."""
    order = rig.submit(side="sell", type="market", qty=4)
    assert (order.status, order.filled_qty) == ("new", 0)
    assert rig.events(order.id) == ["new"]
    rig.advance(0.04)  # not routed yet (accept_latency_s 0.05)
    assert order.status == "new"
    rig.advance(0.1)
    assert order.status == "filled"
    fill = rig.updates[-1]
    assert (fill["event"], fill["price"], fill["qty"], fill["position_qty"]) == (
        "fill",
        "189.99",
        "4",
        "6",
    )


def test_outside_the_session_a_stop_answers_accepted_and_turns_new_at_the_open() -> None:
    """orders-at-alpaca (OrderStatus `accepted`: "seen often outside of trading session hours");
    alpaca-notes: outside the session a new order sits in `accepted`."""
    rig = Rig(at=PRE_MARKET)
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    order = stop_sell(rig)
    assert order.status == "accepted" and rig.events(order.id) == []
    rig.clock.set(at=REGULAR_OPEN_MORNING)
    rig.engine.process_pending()
    assert order.status == "new" and rig.events(order.id) == ["new"]


def test_latencies_are_configurable() -> None:
    """alpaca-notes "The order lifecycle is asynchronous": fills arrive later; how much later
    is `accept_latency_s` + `fill_latency_s` on the simulator's clock."""
    rig = Rig(accept_latency_s=1.0, fill_latency_s=2.0)
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    order = rig.submit(side="sell", type="market")
    rig.advance(2.5)
    assert order.status == "new"
    rig.advance(0.6)
    assert order.status == "filled"


# --- cancel -------------------------------------------------------------------------------------
def test_cancel_goes_pending_cancel_and_the_order_can_still_fill(slow: Rig) -> None:
    """DELETE /v2/orders/{order_id} reference and alpaca-notes: 204 means the request was
    accepted; the order passes `pending_cancel` and can still fill before it is `canceled`."""
    rig = slow
    order = rig.submit(side="sell", type="limit", limit_price="195")
    rig.advance(0.6)
    rig.engine.cancel(order.id)
    assert order.status == "pending_cancel"
    rig.quote("AAPL", "195.50", "195.60", "195.55")  # crosses before the cancel lands
    rig.advance(0.1)
    assert order.status == "filled"
    rig.advance(1)
    assert order.status == "filled"
    assert rig.events(order.id) == ["new", "pending_cancel", "fill"]


def test_cancel_lands_as_canceled(rig: Rig) -> None:
    """DELETE /v2/orders/{order_id} reference: the cancel lands later as `canceled`."""
    order = stop_sell(rig)
    rig.engine.cancel(order.id)
    rig.advance()
    assert order.status == "canceled"
    assert rig.events(order.id) == ["new", "pending_cancel", "canceled"]


def test_cancel_of_a_filled_order_is_422(rig: Rig) -> None:
    """alpaca-notes: cancel of a filled order is 422 `order is already in "filled" state`."""
    order = rig.submit(side="sell", type="market")
    rig.advance()
    with pytest.raises(SimApiError) as caught:
        rig.engine.cancel(order.id)
    assert (caught.value.status, caught.value.message) == (
        422,
        'order is already in "filled" state',
    )


def test_cancel_while_pending_replace_is_rejected(rig: Rig) -> None:
    """orders-at-alpaca (`pending_replace`: "The order will reject cancel request while in this
    state")."""
    order = stop_sell(rig)
    rig.advance()
    rig.engine.replace(order.id, {"stop_price": "182"})
    with pytest.raises(SimApiError) as caught:
        rig.engine.cancel(order.id)
    assert caught.value.status == 422
    assert rig.events(order.id)[-1] == "order_cancel_rejected"


def test_pending_requests_survive_a_restart(slow: Rig) -> None:
    """DELETE /v2/orders/{order_id}: an accepted cancel lands even if the simulator restarts
    in between (the snapshot keeps `pending_cancel`, not the request)."""
    order = stop_sell(slow)
    slow.engine.cancel(order.id)
    resumed = Engine(slow.clock, slow.engine.config, book=slow.engine.book)
    resumed.process_pending()
    assert resumed.get_order(order.id).status == "canceled"


def test_pending_updates_are_published_as_order_events(rig: Rig) -> None:
    """alpaca-notes Streams: trade_updates include pending_*; the live-bridge mapping publishes
    them as order.pending_cancel / order.pending_replace."""
    order = stop_sell(rig)
    rig.advance()
    rig.engine.replace(order.id, {"stop_price": "182"})
    rig.advance()
    names = [mapped[0] for u in rig.updates if (mapped := order_event(u)) is not None]
    assert events.ORDER_PENDING_REPLACE in names
    rig.engine.cancel(order.replaced_by or "")
    assert order_event(rig.updates[-1]) is not None
    assert order_event(rig.updates[-1])[0] == events.ORDER_PENDING_CANCEL  # type: ignore[index]


# --- replace ------------------------------------------------------------------------------------
def test_replace_is_refused_while_accepted() -> None:
    """alpaca-notes / PATCH /v2/orders/{order_id}: orders that are `accepted`, `pending_new` or
    `pending_*` cannot be replaced (outside the session a new order sits in `accepted`)."""
    rig = Rig(at=PRE_MARKET)
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    order = stop_sell(rig)
    with pytest.raises(SimApiError) as caught:
        rig.engine.replace(order.id, {"stop_price": "182"})
    assert caught.value.status == 422 and "accepted" in caught.value.message


def test_replace_is_refused_while_pending_cancel(rig: Rig) -> None:
    """PATCH /v2/orders/{order_id} (alpaca-notes): `pending_*` orders cannot be replaced."""
    order = stop_sell(rig)
    rig.advance()
    rig.engine.cancel(order.id)
    with pytest.raises(SimApiError) as caught:
        rig.engine.replace(order.id, {"stop_price": "182"})
    assert caught.value.status == 422 and "pending_cancel" in caught.value.message


def test_replace_that_changes_nothing_is_422(rig: Rig) -> None:
    """alpaca-notes (reported, alpaca-py #412): a replace that changes nothing is 422
    "order parameters are not changed"."""
    order = stop_sell(rig)
    rig.advance()
    with pytest.raises(SimApiError) as caught:
        rig.engine.replace(order.id, {"stop_price": "180", "qty": 10})
    assert (caught.value.status, caught.value.message) == (422, "order parameters are not changed")


def test_replace_passes_pending_replace_then_lands_as_replaced(rig: Rig) -> None:
    """PATCH /v2/orders/{order_id} reference and alpaca-notes: the answer is the new order; the
    old one becomes `replaced` with `replaced_by` when the replacement lands."""
    old = stop_sell(rig)
    rig.advance()
    new = rig.engine.replace(old.id, {"stop_price": "182"})
    assert (old.status, new.status, new.replaces) == ("pending_replace", "pending_new", old.id)
    assert rig.engine.held_for_orders("AAPL", "sell") == 10  # not twice
    rig.advance()
    assert (old.status, old.replaced_by, new.status) == ("replaced", new.id, "new")
    assert rig.events(old.id) == ["new", "pending_replace", "replaced"]


def test_the_old_order_can_fill_before_the_replacement_lands(slow: Rig) -> None:
    """alpaca-notes: the old order can fill before the replacement lands
    (`order_replace_rejected` then)."""
    rig = slow
    old = rig.submit(side="sell", type="limit", limit_price="195")
    rig.advance(0.6)
    new = rig.engine.replace(old.id, {"limit_price": "196"})
    rig.quote("AAPL", "195.50", "195.60", "195.55")
    rig.advance(0.1)
    assert old.status == "filled"
    rig.advance(1)
    assert rig.events(old.id)[-1] == "order_replace_rejected"
    assert new.status == "rejected" and not new.is_open


# --- buy stops ------------------------------------------------------------------------------------
def test_buy_stops_become_stop_limits_with_the_collar() -> None:
    """alpaca-notes (Trading rules; "The order lifecycle is asynchronous"): buy stops become
    stop-limits, limit 4 % above the stop under $50, 2.5 % above otherwise, to the tick."""
    rig = Rig()
    rig.engine.seed_positions(
        [("XOM", D(-10), D("110")), ("SNDL", D(-100), D("2"))],
        marks={"XOM": D("110"), "SNDL": D("2")},
    )
    xom = rig.engine.submit(
        {
            "symbol": "XOM",
            "qty": 10,
            "side": "buy",
            "type": "stop",
            "stop_price": "115",
            "time_in_force": "gtc",
        }
    )
    sndl = rig.engine.submit(
        {
            "symbol": "SNDL",
            "qty": 100,
            "side": "buy",
            "type": "stop",
            "stop_price": "2.13",
            "time_in_force": "gtc",
        }
    )
    assert (xom.type, xom.limit_price) == ("stop_limit", D("117.88"))  # 117.875 -> 117.88
    assert (sndl.type, sndl.limit_price) == ("stop_limit", D("2.22"))  # 2.2152 -> 2.22


def test_a_gap_above_the_collar_triggers_the_buy_stop_and_leaves_it_resting() -> None:
    """alpaca-notes: on a gap up, a short's protective stop can trigger and rest unfilled."""
    rig = Rig()
    rig.engine.seed_positions([("XOM", D(-10), D("110"))], marks={"XOM": D("110")})
    stop = rig.engine.submit(
        {
            "symbol": "XOM",
            "qty": 10,
            "side": "buy",
            "type": "stop",
            "stop_price": "115",
            "time_in_force": "gtc",
        }
    )
    rig.advance()
    rig.quote("XOM", "124.90", "125.10", "125")  # gap far above 117.88
    rig.advance()
    rig.quote("XOM", "124.95", "125.05", "125")
    rig.advance()
    assert stop.triggered and stop.status == "new" and stop.filled_qty == 0


# --- election and fills ---------------------------------------------------------------------------
def test_stops_elect_on_trade_prints_not_on_the_bid_alone(rig: Rig) -> None:
    """alpaca-notes: stops elect on consolidated trade prints within the NBBO, not on a bid or
    an ask alone; a bid of 0 arms nothing."""
    order = stop_sell(rig, "180")
    rig.advance()
    rig.quote("AAPL", "179", "191", "190")  # the bid dips under the stop, the print does not
    rig.quote("AAPL", "0", "191")  # a bid of 0 and no print
    rig.advance()
    rig.quote("AAPL", "189", "191", "190")
    rig.advance()
    assert not order.triggered and order.status == "new"
    rig.quote("AAPL", "179.5", "180.5", "179.9")  # a print at the stop elects it
    assert order.triggered and order.status == "new"


def test_fills_come_from_the_first_quote_after_election_with_slippage() -> None:
    """alpaca-notes: an elected stop becomes a market order; the fill is the next quote's
    price (here with `slippage_bps`), reported as a `fill` update."""
    rig = Rig(slippage_bps=D(10))
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    order = stop_sell(rig, "180")
    rig.advance()
    rig.quote("AAPL", "179.5", "180.5", "179.9")
    rig.advance()
    assert order.status == "new"  # no quote since the election
    rig.quote("AAPL", "178", "178.2", "178.1")
    assert order.status == "filled"
    assert order.filled_avg_price == D("177.82")  # 178 less 10 bps, to the tick


def test_an_order_fills_over_several_quotes_with_per_quote_liquidity() -> None:
    """alpaca-py fixtures / alpaca-notes Streams: `partial_fill` updates with `position_qty`
    precede the `fill`; one fill per quote (`partial_fill_qty` of liquidity each)."""
    rig = Rig(partial_fill_qty=D(4))
    rig.engine.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    order = rig.submit(side="sell", type="market")
    rig.advance()
    rig.advance()  # the same quote again: no more liquidity
    assert order.filled_qty == 4 and order.status == "partially_filled"
    rig.quote("AAPL", "189.9", "190.1", "190")
    rig.quote("AAPL", "189.9", "190.1", "190")
    assert order.status == "filled"
    fills = [(u["event"], u["qty"], u["position_qty"]) for u in rig.updates[-3:]]
    assert fills == [("partial_fill", "4", "6"), ("partial_fill", "4", "2"), ("fill", "2", "0")]


# --- GTC expiry -----------------------------------------------------------------------------------
def test_gtc_orders_carry_expires_at_and_expire(rig: Rig) -> None:
    """alpaca-notes: GTC orders are not forever: `expires_at` about 90 days after creation
    (aged-order policy); an expired stop must be placed again."""
    order = stop_sell(rig)
    assert order.expires_at == order.created_at + timedelta(days=90)
    assert rig.engine.order_body(order)["expires_at"].endswith("Z")
    rig.clock.set(at=order.created_at + timedelta(days=90, seconds=1))
    rig.engine.process_pending()
    assert order.status == "expired"
    assert rig.events(order.id)[-1] == "expired"
    assert order_event(rig.updates[-1])[0] == events.ORDER_EXPIRED  # type: ignore[index]


# --- rejects --------------------------------------------------------------------------------------
def _refused(rig: Rig, **payload: Any) -> SimApiError:
    with pytest.raises(SimApiError) as caught:
        rig.submit(**payload)
    assert rig.updates[-1]["event"] == "rejected"
    return caught.value


def test_unknown_and_not_tradable_symbols_are_refused() -> None:
    """alpaca-notes, rejections seen on real accounts: an unknown or non-tradable symbol."""
    rig = Rig(tradable_symbols=frozenset({"AAPL"}), not_tradable=frozenset({"HALT"}))
    unknown = _refused(rig, symbol="NOPE", side="buy", type="market")
    assert (unknown.status, unknown.message) == (422, 'asset "NOPE" not found')
    halted = _refused(rig, symbol="HALT", side="buy", type="market")
    assert halted.status == 403 and "not tradable" in halted.message


def test_a_short_sale_of_a_not_shortable_symbol_is_refused() -> None:
    """alpaca-notes: a short sale of a symbol that is not shortable / not easy to borrow."""
    rig = Rig(not_shortable=frozenset({"GME"}))
    error = _refused(rig, symbol="GME", side="sell", type="market", qty=1)
    assert error.status == 403 and "cannot be sold short" in error.message


def test_opposite_side_open_orders_conflict() -> None:
    """alpaca-notes: "cannot open a long buy while a short sell order is open" (403, and the
    mirror case)."""
    rig = Rig()
    rig.quote("AAPL", "189.9", "190.1", "190")
    rig.submit(side="sell", type="stop", stop_price="150")  # opens a short when elected
    error = _refused(rig, side="buy", type="stop", stop_price="200")
    assert (error.status, error.message) == (
        403,
        "cannot open a long buy while a short sell order is open",
    )
    rig.quote("MSFT", "399.9", "400.1", "400")
    rig.submit(symbol="MSFT", side="buy", type="stop", stop_price="450")
    mirror = _refused(rig, symbol="MSFT", side="sell", type="stop", stop_price="350")
    assert mirror.message == "cannot open a short sell while a long buy order is open"


def test_a_potential_wash_trade_is_refused(rig: Rig) -> None:
    """alpaca-notes: potential wash trade (422, 42210000)."""
    rig.submit(side="sell", type="limit", limit_price="195")
    error = _refused(rig, side="buy", type="limit", limit_price="196", qty=1)
    assert (error.status, error.code) == (422, 42210000)
    assert "wash trade" in error.message


def test_a_market_order_with_extended_hours_is_refused(rig: Rig) -> None:
    """alpaca-notes: a market order with `extended_hours` (422, 40010001 "only type=limit is
    allowed")."""
    error = _refused(rig, side="sell", type="market", extended_hours=True)
    assert (error.status, error.code) == (422, 40010001)
    assert "only type=limit is allowed" in error.message


def test_a_non_uuid_order_id_is_422(rig: Rig) -> None:
    """alpaca-notes: a non-UUID order id is 422 40010001."""
    for call in (rig.engine.get_order, rig.engine.cancel):
        with pytest.raises(SimApiError) as caught:
            call("not-a-uuid")
        assert (caught.value.status, caught.value.code) == (422, 40010001)


def test_fractional_qty_only_on_day_market_or_limit_orders(rig: Rig) -> None:
    """alpaca-notes Trading rules: fractional quantities are DAY orders only (and market or
    limit orders only, per orders-at-alpaca's fractional trading section)."""
    gtc = _refused(
        rig, side="sell", type="limit", limit_price="195", qty="0.5", time_in_force="gtc"
    )
    assert gtc.status == 422
    stop = _refused(rig, side="sell", type="stop", stop_price="150", qty="0.5")
    assert (stop.status, stop.message) == (422, "fractional orders must be market or limit orders")


# --- bodies and the HTTP face -----------------------------------------------------------------
def test_bodies_carry_the_fields_real_bodies_carry(rig: Rig) -> None:
    """alpaca-notes: bodies also carry `position_intent`, `subtag`, `source`, `ratio_qty`,
    `expires_at`; `order_class` is "" for a simple order; timestamps have fractional seconds."""
    body = rig.engine.order_body(stop_sell(rig))
    assert body["position_intent"] == "sell_to_close"
    assert body["order_class"] == ""
    assert {"subtag", "source", "ratio_qty", "expires_at"} <= set(body)
    assert body["created_at"].endswith(".000000Z")


@pytest.fixture
def realistic(redis_url: str) -> Iterator[SimulatorHandle]:
    handle = start_simulator(
        SimulatorConfig(engine=EngineConfig(lifecycle="realistic")),
        redis_url=redis_url,
        clock_start=REGULAR_OPEN_MORNING,
        clock_speed=0.0,
        rate_limit=10_000,
    )
    yield handle
    handle.stop()


def test_over_http_delete_answers_204_and_patch_answers_the_new_order(
    realistic: SimulatorHandle,
) -> None:
    """DELETE /v2/orders/{order_id} (204) and PATCH /v2/orders/{order_id} references."""
    sim = realistic.simulator
    sim.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    headers = {"APCA-API-KEY-ID": realistic.api_key, "APCA-API-SECRET-KEY": realistic.secret_key}
    url = f"{realistic.url}/v2/orders"
    body = {
        "symbol": "AAPL",
        "qty": 5,
        "side": "sell",
        "type": "stop",
        "stop_price": 170,
        "time_in_force": "gtc",
    }
    created = requests.post(url, json=body, headers=headers, timeout=5).json()
    assert created["status"] == "new"
    sim.advance_clock(0.1)
    replaced = requests.patch(
        f"{url}/{created['id']}", json={"stop_price": 172}, headers=headers, timeout=5
    )
    assert replaced.status_code == 200 and replaced.json()["replaces"] == created["id"]
    sim.advance_clock(0.1)
    gone = requests.delete(f"{url}/{replaced.json()['id']}", headers=headers, timeout=5)
    assert gone.status_code == 204
    bad = requests.get(f"{url}/nope", headers=headers, timeout=5)
    assert (bad.status_code, bad.json()["code"]) == (422, 40010001)


def test_lifecycle_is_chosen_by_env_or_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch itself: `PM_SIM_LIFECYCLE` (like the fault knobs' PM_SIM_*) or `lifecycle`.
    Realistic is the default; instant must be asked for."""
    monkeypatch.delenv("PM_SIM_LIFECYCLE", raising=False)
    assert SimulatorConfig().engine_config().lifecycle == "realistic"
    monkeypatch.setenv("PM_SIM_LIFECYCLE", "instant")
    assert SimulatorConfig().engine_config().lifecycle == "instant"
    assert SimulatorConfig(lifecycle="realistic").engine_config().lifecycle == "realistic"
    monkeypatch.setenv("PM_SIM_LIFECYCLE", "realistic")
    assert SimulatorConfig(lifecycle="instant").engine_config().lifecycle == "instant"
    monkeypatch.setenv("PM_SIM_LIFECYCLE", "bogus")
    with pytest.raises(ValueError):
        SimulatorConfig().engine_config()
