"""Every adapter operation through real alpaca-py over HTTP against the simulator."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from broker.alpaca_adapter import AlpacaBroker
from position_manager.broker_types import OrderKind, OrderRequest, OrderSide, TimeInForce
from position_manager.sample_data import SAMPLE_UNIVERSE
from simulator import SimulatorHandle
from tests.support.simulator import make_broker, unique_id

D = Decimal


def order(
    symbol: str,
    side: OrderSide,
    qty: str,
    kind: OrderKind,
    *,
    tif: TimeInForce = TimeInForce.GTC,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    trail_percent: Decimal | None = None,
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        qty=D(qty),
        kind=kind,
        client_order_id=unique_id(symbol),
        time_in_force=tif,
        limit_price=limit_price,
        stop_price=stop_price,
        trail_percent=trail_percent,
    )


def test_account_reports_cash_equity_and_buying_power(broker: AlpacaBroker) -> None:
    account = broker.get_account()
    assert account.status == "ACTIVE"
    assert account.cash == D("100000")
    assert account.equity == D("100000")
    assert account.buying_power == D("200000")  # 2x Reg-T margin on an empty book


def test_clock_is_open_in_the_regular_session(broker: AlpacaBroker) -> None:
    clock = broker.get_clock()
    assert clock.is_open
    assert clock.timestamp == datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    assert clock.next_close == datetime(2025, 3, 3, 21, 0, tzinfo=UTC)
    assert clock.next_open == datetime(2025, 3, 4, 14, 30, tzinfo=UTC)


def test_calendar_skips_weekends_and_holidays_and_knows_early_closes(
    broker: AlpacaBroker,
) -> None:
    days = broker.get_calendar(date(2024, 11, 27), date(2024, 12, 2))
    assert [d.date for d in days] == [date(2024, 11, 27), date(2024, 11, 29), date(2024, 12, 2)]
    black_friday = days[1]
    assert (black_friday.close.hour, black_friday.close.minute) == (13, 0)
    assert black_friday.open.utcoffset() is not None  # New York time, not naive


def test_positions_long_short_and_fractional(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.seed_positions(marks={"AAPL": D("190.00"), "XOM": D("110.00")})
    positions = {p.symbol: p for p in broker.list_positions()}
    assert set(positions) == {"AAPL", "MSFT", "NVDA", "XOM", "SNDL", "BNGO"}
    aapl = positions["AAPL"]
    assert (aapl.qty, aapl.avg_entry_price, aapl.current_price) == (D(50), D("185.00"), D("190"))
    assert aapl.unrealized_pl == D("250.00")
    xom = positions["XOM"]
    assert xom.is_short and xom.qty == D(-30)
    assert xom.unrealized_pl == D("90.00")  # short from 113 marked at 110
    assert positions["BNGO"].qty == D("2500.5")
    assert broker.get_position("AAPL") == aapl
    assert broker.get_position("ZZZZ") is None


def test_market_order_fills_at_the_ask_and_opens_a_position(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01", "62.00")
    placed = broker.submit_order(order("KO", OrderSide.BUY, "10", OrderKind.MARKET))
    assert placed.kind is OrderKind.MARKET
    assert placed.status == "filled"
    assert placed.filled_avg_price == D("62.01")
    position = broker.get_position("KO")
    assert position is not None and position.qty == D(10)
    assert position.avg_entry_price == D("62.01")
    assert broker.get_account().cash == D("100000") - D("620.10")


def test_limit_order_rests_then_fills_when_the_ask_reaches_it(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    placed = broker.submit_order(
        order("KO", OrderSide.BUY, "5", OrderKind.LIMIT, limit_price=D("61.50"))
    )
    assert placed.status == "new" and placed.limit_price == D("61.50")
    sim.simulator.feed_quote("KO", "61.40", "61.45")
    filled = broker.get_order(placed.id)
    assert filled.status == "filled" and filled.filled_avg_price == D("61.45")


def test_limit_price_is_rounded_to_the_tick_before_sending(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    above_a_dollar = broker.submit_order(
        order("KO", OrderSide.BUY, "1", OrderKind.LIMIT, limit_price=D("50.456"))
    )
    assert above_a_dollar.limit_price == D("50.46")
    sim.simulator.feed_quote("BNGO", "0.90", "0.91")
    below = broker.submit_order(
        order("BNGO", OrderSide.BUY, "100", OrderKind.LIMIT, limit_price=D("0.812345"))
    )
    assert below.limit_price == D("0.8123")


def test_stop_order_triggers_on_the_last_price_and_sells_at_the_bid(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        order("AAPL", OrderSide.SELL, "50", OrderKind.STOP, stop_price=D("180.00"))
    )
    assert stop.status == "new" and stop.stop_price == D("180.00")
    sim.simulator.feed_quote("AAPL", "181.00", "181.02", "181.01")
    assert broker.get_order(stop.id).status == "new"
    sim.simulator.feed_quote("AAPL", "179.50", "179.52", "179.90")
    hit = broker.get_order(stop.id)
    assert hit.status == "filled" and hit.filled_avg_price == D("179.50")
    assert broker.get_position("AAPL") is None


def test_stop_limit_order_does_not_fill_below_its_limit(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("AAPL", D(10), D("185"))], marks={"AAPL": D("190")})
    placed = broker.submit_order(
        order(
            "AAPL",
            OrderSide.SELL,
            "10",
            OrderKind.STOP_LIMIT,
            stop_price=D("180"),
            limit_price=D("179"),
        )
    )
    sim.simulator.feed_quote("AAPL", "178.00", "178.10", "178.05")  # gap through the limit
    assert broker.get_order(placed.id).status == "new"
    sim.simulator.feed_quote("AAPL", "179.20", "179.30", "179.25")
    assert broker.get_order(placed.id).filled_avg_price == D("179.20")


def test_trailing_stop_follows_the_high_and_fires_on_the_pullback(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("NVDA", D(40), D("118.50"))], marks={"NVDA": D("120")})
    placed = broker.submit_order(
        order("NVDA", OrderSide.SELL, "40", OrderKind.TRAILING_STOP, trail_percent=D("5"))
    )
    assert placed.trail_percent == D("5")
    assert placed.stop_price == D("114.00")  # 5 % under 120
    sim.simulator.feed_quote("NVDA", "129.99", "130.01", "130.00")
    assert broker.get_order(placed.id).stop_price == D("123.50")
    sim.simulator.feed_quote("NVDA", "125.00", "125.02", "125.01")
    assert broker.get_order(placed.id).status == "new"
    sim.simulator.feed_quote("NVDA", "123.40", "123.42", "123.41")
    assert broker.get_order(placed.id).status == "filled"


def test_replace_moves_the_stop_and_returns_a_new_order(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        order("AAPL", OrderSide.SELL, "50", OrderKind.STOP, stop_price=D("170"))
    )
    new = broker.replace_order(stop.id, stop_price=D("175.555"), qty=D(40))
    assert new.id != stop.id
    assert (new.stop_price, new.qty, new.status) == (D("175.56"), D(40), "new")
    old = broker.get_order(stop.id)
    assert old.status == "replaced" and old.replaced_by == new.id
    assert [o.id for o in broker.list_open_orders()] == [new.id]


def test_replace_with_a_client_id_is_idempotent(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        order("AAPL", OrderSide.SELL, "50", OrderKind.STOP, stop_price=D("170"))
    )
    first = broker.replace_order(stop.id, stop_price=D("172"), client_order_id="stop-v2")
    again = broker.replace_order(stop.id, stop_price=D("172"), client_order_id="stop-v2")
    assert again.id == first.id
    assert len(broker.list_open_orders()) == 1


def test_cancel_closes_the_order_and_a_second_cancel_is_harmless(
    sim: SimulatorHandle, broker: AlpacaBroker
) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    placed = broker.submit_order(
        order("KO", OrderSide.BUY, "5", OrderKind.LIMIT, limit_price=D("60"))
    )
    broker.cancel_order(placed.id)
    assert broker.get_order(placed.id).status == "canceled"
    broker.cancel_order(placed.id)  # already canceled: success, not an error
    assert broker.list_open_orders() == []


def test_close_part_of_a_position(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.seed_positions([("MSFT", D(20), D("405"))], marks={"MSFT": D("410")})
    closing = broker.close_position("MSFT", D(5))
    assert closing.side is OrderSide.SELL and closing.qty == D(5)
    assert closing.status == "filled"
    position = broker.get_position("MSFT")
    assert position is not None and position.qty == D(15)


def test_close_a_short_buys_to_cover(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.seed_positions([("XOM", D(-30), D("113"))], marks={"XOM": D("110")})
    closing = broker.close_position("XOM")
    assert closing.side is OrderSide.BUY and closing.qty == D(30)
    assert broker.get_position("XOM") is None


def test_open_orders_are_paged_past_500(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    engine = sim.simulator.engine
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    for i in range(1203):
        engine.submit(
            {
                "symbol": "KO",
                "qty": "1",
                "side": "buy",
                "type": "limit",
                "limit_price": "10",
                "time_in_force": "gtc",
                "client_order_id": f"page-{i}",
            }
        )
    sim.simulator.reset_stats()
    orders = broker.list_open_orders()
    assert len(orders) == 1203
    assert len({o.id for o in orders}) == 1203
    assert {o.client_order_id for o in orders} == {f"page-{i}" for i in range(1203)}
    assert sim.simulator.stats["GET /v2/orders"] == 3  # 500 + 500 + 203


def test_open_orders_filtered_by_symbol(sim: SimulatorHandle, broker: AlpacaBroker) -> None:
    sim.simulator.feed_quote("KO", "61.99", "62.01")
    sim.simulator.feed_quote("XOM", "109.99", "110.01")
    ko = broker.submit_order(order("KO", OrderSide.BUY, "1", OrderKind.LIMIT, limit_price=D("50")))
    broker.submit_order(order("XOM", OrderSide.BUY, "1", OrderKind.LIMIT, limit_price=D("90")))
    assert [o.id for o in broker.list_open_orders(["KO"])] == [ko.id]


def test_daily_bars_for_many_symbols_follow_next_page_token(redis_url: str) -> None:
    from simulator import start_simulator
    from tests.support.simulator import REGULAR_OPEN_MORNING

    with start_simulator(
        lifecycle="instant", clock_start=REGULAR_OPEN_MORNING, clock_speed=0.0, max_bars_page=25
    ) as handle:
        broker = make_broker(handle)
        symbols = [s.symbol for s in SAMPLE_UNIVERSE] + ["NOPE"]
        start = datetime(2025, 1, 2, tzinfo=UTC)
        end = datetime(2025, 2, 28, tzinfo=UTC)
        bars = broker.get_daily_bars(symbols, start, end)
        pages = handle.simulator.stats["GET /v2/stocks/bars"]
    assert set(bars) == {s.symbol for s in SAMPLE_UNIVERSE}  # no data: no key
    # 38 XNYS sessions: 9 Jan (national day of mourning) is closed, and the 28 Feb bar starts
    # at 05:00Z, after `end`.
    assert all(len(series) == 38 for series in bars.values())
    assert pages == 16  # 380 bars in pages of 25
    first = bars["AAPL"][0]
    assert first.timestamp == datetime(2025, 1, 2, 5, 0, tzinfo=UTC)
    assert first.low <= first.open <= first.high and isinstance(first.close, Decimal)
    assert [b.timestamp for b in bars["AAPL"]] == sorted(b.timestamp for b in bars["AAPL"])


def test_is_connected_reflects_reachability(sim: SimulatorHandle) -> None:
    broker = make_broker(sim)
    assert broker.is_connected()
    sim.simulator.set_faults(fail_next=1)
    assert not broker.is_connected()  # one cheap call, no retries
    assert broker.is_connected()


@pytest.mark.parametrize("kind", list(OrderKind))
def test_every_order_kind_is_accepted_with_its_fields(
    sim: SimulatorHandle, broker: AlpacaBroker, kind: OrderKind
) -> None:
    sim.simulator.seed_positions([("JPM", D(100), D("200"))], marks={"JPM": D("210")})
    prices = {
        OrderKind.MARKET: {},
        OrderKind.LIMIT: {"limit_price": D("250")},
        OrderKind.STOP: {"stop_price": D("190")},
        OrderKind.STOP_LIMIT: {"stop_price": D("190"), "limit_price": D("189")},
        OrderKind.TRAILING_STOP: {"trail_percent": D("8")},
    }[kind]
    placed = broker.submit_order(
        order("JPM", OrderSide.SELL, "10", kind, tif=TimeInForce.DAY, **prices)
    )
    assert placed.kind is kind
    assert placed.time_in_force is TimeInForce.DAY
    assert placed.qty == D(10)
    assert placed.status == ("filled" if kind is OrderKind.MARKET else "new")


def test_latest_trade_price_through_alpaca_py(sim: SimulatorHandle) -> None:
    """What the worker confirms an implausible quote with: the feed's last print, as Decimal;
    None for a symbol that has not traded."""
    broker = make_broker(sim)
    sim.simulator.feed_quote("AAPL", Decimal("189.99"), Decimal("190.01"), Decimal("190.25"))
    assert broker.get_latest_trade_price("AAPL") == Decimal("190.25")
    assert broker.get_latest_trade_price("NOPE") is None


def test_order_log_lines_at_info_carry_the_prices_as_sent(
    sim: SimulatorHandle, broker: AlpacaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """A trader reading the log sees what was asked of the broker: quantity, stop and limit
    prices rounded to the tick as they were sent, time in force and the broker's status."""
    caplog.set_level(logging.INFO, logger="broker.alpaca_adapter")
    sim.simulator.seed_positions([("AAPL", D(50), D("185"))], marks={"AAPL": D("190")})
    stop = broker.submit_order(
        order(
            "AAPL",
            OrderSide.SELL,
            "50",
            OrderKind.STOP_LIMIT,
            stop_price=D("170.004"),
            limit_price=D("169.5"),
        )
    )
    broker.replace_order(stop.id, stop_price=D("175.555"), qty=D(40))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    submitted = next(line for line in lines if 'msg="order submitted"' in line)
    assert "qty=50" in submitted and "stop_price=170.00" in submitted
    assert "limit_price=169.50" in submitted and "time_in_force=gtc" in submitted
    assert "status=new" in submitted
    replaced = next(line for line in lines if 'msg="order replaced"' in line)
    assert "qty=40" in replaced and "stop_price=175.56" in replaced
