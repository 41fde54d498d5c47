"""Portfolio-level limits that act on open positions, and `flatten`, on the simulator: a daily
loss past DAILY_LOSS_LIMIT_PCT tightens every stop (or flattens the book), once a day, with an
alert; `command.flatten` and `position-manager flatten --confirm` (worker down) close every
position through the lifecycle-safe path (stop cancelled first, one exit per position)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from book.flatten import flatten_itself
from position_manager import events
from position_manager.events import publish
from position_manager.redis_schema import FLATTEN_KEY
from tests.support.simulator import REGULAR_AT
from tests.support.waits import wait_until
from tests.support.worker_harness import Harness, risk_params

BOOK = [("KO", Decimal(1000), Decimal(60)), ("XOM", Decimal(-200), Decimal(100))]


def _start(harness: Harness, **limits: Any) -> None:
    """100,000 cash, 1,000 KO long at 60 and 200 XOM short at 100; stops 55.20 and 108.00."""
    harness.settings = harness.settings.model_copy(update={"portfolio_check_seconds": 5, **limits})
    harness.sim.simulator.seed_positions(BOOK, {"KO": Decimal(60), "XOM": Decimal(100)})
    for symbol in ("KO", "XOM"):
        risk_params(harness.client, symbol, atr="1")
    harness.start()
    harness.settle()
    assert harness.worker is not None
    harness.worker.portfolio.check_seconds = 0  # read the account on every tick
    harness.sim.simulator.engine.account_numbers()  # the broker's close: today's first equity


def _drive(harness: Harness, done: Callable[[], Any], what: str) -> None:
    worker = harness.worker
    assert worker is not None

    def step() -> Any:
        worker.housekeeping.tick(force=True)
        worker.process_batch(block_ms=0)
        worker.wait_idle(5)
        return done()

    wait_until(step, 15, what)


def test_a_daily_loss_past_the_limit_tightens_every_stop_once(harness: Harness) -> None:
    _start(harness, daily_loss_limit_pct=Decimal("0.02"))
    harness.quote("KO", "57.50")  # -2,500 on KO
    harness.quote("XOM", "101")  # -200 on the short: 2,700 of ~120,000 is past 2 %
    _drive(harness, lambda: harness.events(events.ALERT_PORTFOLIO_LIMIT, events.ALERTS_STREAM),
           "the limit never acted")  # fmt: skip
    _drive(
        harness,
        lambda: (
            {s.symbol: s.stop_price for s in harness.open_orders() if s.kind.is_stop}
            == {"KO": Decimal("56.35"), "XOM": Decimal("103.02")}
        ),
        "the stops were not tightened to 2 % from the last prices",
    )
    (alert,) = harness.events(events.ALERT_PORTFOLIO_LIMIT, events.ALERTS_STREAM)
    assert (alert["kind"], alert["action"]) == ("daily_loss", "tighten")
    tightened = [e for e in harness.events(events.POSITION_STOP_SET) if e["reason"] == "tighten"]
    assert sorted(e["symbol"] for e in tightened) == ["KO", "XOM"]
    harness.quote("KO", "57.40")  # still past the limit: it acted today already
    _drive(harness, lambda: True, "")
    assert len(harness.events(events.ALERT_PORTFOLIO_LIMIT, events.ALERTS_STREAM)) == 1
    assert harness.position_qty("KO") == 1000 and harness.position_qty("XOM") == -200


def test_a_limit_set_to_flatten_closes_the_book(harness: Harness) -> None:
    _start(harness, daily_loss_limit_pct=Decimal("0.02"), portfolio_limit_action="flatten")
    harness.quote("KO", "57.50")
    harness.quote("XOM", "101")
    _drive(harness, lambda: not harness.worker.engine.held, "the book was not flattened")  # type: ignore[union-attr]
    assert harness.position_qty("KO") == 0 and harness.position_qty("XOM") == 0
    assert harness.open_orders() == []  # no stop left behind to open a new position
    flattened = harness.events(events.POSITION_FLATTEN)
    assert sorted((e["symbol"], Decimal(e["shares_sold"])) for e in flattened) == [
        ("KO", Decimal(1000)),
        ("XOM", Decimal(200)),
    ]
    # done: nothing left to resume (cleared on the next tick after the last close)
    _drive(harness, lambda: harness.client.get(FLATTEN_KEY) is None, "the flatten never ended")


def test_command_flatten_closes_every_position_through_the_worker(harness: Harness) -> None:
    _start(harness)  # no limit set
    publish(harness.client, events.COMMAND_FLATTEN, {"cause": "trader"})
    _drive(harness, lambda: not harness.worker.engine.held, "the book was not flattened")  # type: ignore[union-attr]
    closed = harness.events(events.POSITION_CLOSED)
    assert sorted(e["symbol"] for e in closed) == ["KO", "XOM"]
    sells = [o for o in harness.sim.simulator.engine.book.orders.values() if o.type == "market"]
    assert sorted((o.symbol, o.side, o.qty) for o in sells) == [
        ("KO", "sell", Decimal(1000)),
        ("XOM", "buy", Decimal(200)),
    ]


def test_flatten_with_the_worker_down_closes_every_position_itself(harness: Harness) -> None:
    _start(harness)
    harness.kill()
    for key in harness.client.scan_iter("pm:lease:*"):  # 15 s on: the dead worker's leases expired
        harness.client.delete(key)
    report = flatten_itself(
        harness.broker, harness.client, harness.settings, REGULAR_AT.date(), "trader"
    )
    assert sorted(report.sent) == ["KO", "XOM"] and report.errors == {}, report
    for symbol, price in (("KO", Decimal(60)), ("XOM", Decimal(100))):
        harness.sim.simulator.feed_quote(symbol, price - Decimal("0.01"), price + Decimal("0.01"))
    assert harness.position_qty("KO") == 0 and harness.position_qty("XOM") == 0
    assert [o for o in harness.open_orders() if o.kind.is_stop] == []


def test_flatten_waits_for_a_dead_workers_leases_instead_of_failing(harness: Harness) -> None:
    _start(harness)
    harness.kill()  # its leases stay until they expire
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the leases expire while the command waits
        waited.append(seconds)
        for key in harness.client.scan_iter("pm:lease:*"):
            harness.client.delete(key)

    report = flatten_itself(
        harness.broker, harness.client, harness.settings, REGULAR_AT.date(), "trader", sleep=sleep
    )
    assert sorted(report.sent) == ["KO", "XOM"] and report.errors == {}, report
    assert waited == [1.0]
