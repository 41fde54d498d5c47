"""No silent fallback: a stop placed without a usable ATR says so, and is tightened (never
loosened) to the ATR plan when the risk parameters bring one.

A worker started before any risk refresh places every stop at the fixed fallback distance (12 %
for a large cap). It used to do so without a word and keep those stops after real ATRs arrived.
Real Redis, the simulator's realistic lifecycle, alpaca-py through the adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipelines.lib.risk import RiskInputs, risk_parameters_for
from pipelines.risk.risk_parameters import publish
from position_manager import events
from position_manager.redis_schema import STATE_STOP_BASIS
from rules.params import RuleParams
from tests.support.worker_harness import Harness

# Entry 100 / 50: fallback 12 % -> AAPL 88.00 (long), XOM 56.00 (short), MSFT 88.00.
BOOK = [("AAPL", Decimal(100), Decimal(100)), ("XOM", Decimal(-50), Decimal(50)),
        ("MSFT", Decimal(20), Decimal(100))]  # fmt: skip


def _publish_atrs(harness: Harness, atrs: dict[str, str]) -> None:
    """What the pipeline's `risk_parameters` asset publishes: the hashes and, in the same
    MULTI/EXEC, a `risk.parameters_updated` on the risk stream."""
    params = RuleParams.from_settings(harness.settings)
    now = datetime.now(UTC)
    entries = {symbol: entry for symbol, _qty, entry in BOOK}
    inputs = [
        RiskInputs(symbol, "large", 3e12, "sample", float(entries[symbol]), None, float(atr),
                   None, None, None)
        for symbol, atr in atrs.items()
    ]  # fmt: skip
    parameters = [
        risk_parameters_for(i, params, atr_period=14, atr_method="sma", as_of=now) for i in inputs
    ]
    publish(harness.client, parameters, now)


def _stop(harness: Harness, symbol: str) -> Decimal | None:
    (stop,) = harness.stops(symbol)
    return stop.stop_price


@pytest.fixture
def fallback_book(harness: Harness) -> Harness:
    """The book opened at the broker, then a worker started before any risk refresh."""
    harness.sim.simulator.seed_positions(BOOK, {s: p for s, _q, p in BOOK})
    harness.start(housekeeping_interval=0.0)
    return harness


def test_a_stop_placed_without_an_atr_says_it_is_a_fallback(fallback_book: Harness) -> None:
    h = fallback_book
    assert (_stop(h, "AAPL"), _stop(h, "XOM")) == (Decimal("88.00"), Decimal("56.00"))
    stop_set = {e["symbol"]: e for e in h.events(events.POSITION_STOP_SET)}
    assert {s: e["basis"] for s, e in stop_set.items()} == dict.fromkeys(
        ("AAPL", "XOM", "MSFT"), "fallback"
    )
    assert h.state("AAPL")[STATE_STOP_BASIS] == "fallback"
    alerts = {a["symbol"]: a for a in h.events(events.ALERT_FALLBACK_STOP, events.ALERTS_STREAM)}
    assert set(alerts) == {"AAPL", "XOM", "MSFT"}
    aapl = alerts["AAPL"]
    assert aapl["stop_price"] == "88.00" and aapl["stop_distance"] == "0.1200"
    assert "no risk parameters published yet" in aapl["message"]
    assert "12.0% from entry 100 by the fixed large-cap fallback" in aapl["message"]


def test_a_real_atr_tightens_the_fallback_stop_at_the_broker(fallback_book: Harness) -> None:
    h = fallback_book
    # ATR 2 on 100: 1.5 x 2 % = 3 %, clamped to 8 %: AAPL 92.00 (tighter than 88), the short
    # XOM (ATR 1 on 50) 54.00 (lower than 56). MSFT's ATR 12: 18 %, clamped to 15 % = 85.00,
    # looser than its 88.00 fallback: never applied.
    _publish_atrs(h, {"AAPL": "2", "XOM": "1", "MSFT": "12"})
    h.settle()  # the worker reads the notice, the hashes, and replaces the stops
    h.broker_step()  # the replaces land at the broker
    assert (_stop(h, "AAPL"), _stop(h, "XOM")) == (Decimal("92.00"), Decimal("54.00"))
    assert _stop(h, "MSFT") == Decimal("88.00")
    replans = [e for e in h.events(events.POSITION_STOP_SET) if e["reason"] == "replan"]
    assert {(e["symbol"], e["previous_stop_price"], e["stop_price"], e["basis"])
            for e in replans} == {("AAPL", "88.00", "92.00", "atr"),
                                  ("XOM", "56.00", "54.00", "atr")}  # fmt: skip
    assert h.state("AAPL")[STATE_STOP_BASIS] == "atr"
    assert h.state("MSFT")[STATE_STOP_BASIS] == "fallback"  # still the fallback's level
    assert h.state("AAPL")["stop_price"] == "92.00"


def test_a_looser_atr_plan_is_never_applied(fallback_book: Harness) -> None:
    h = fallback_book
    _publish_atrs(h, {"AAPL": "2", "XOM": "1", "MSFT": "12"})
    h.settle()
    h.broker_step()
    # Later parameters would put every stop further away (15 % caps): nothing moves back.
    _publish_atrs(h, {"AAPL": "30", "XOM": "30", "MSFT": "30"})
    h.settle()
    h.broker_step()
    h.quote("AAPL", "100")
    h.quote("XOM", "50")
    h.quote("MSFT", "100")
    assert (_stop(h, "AAPL"), _stop(h, "XOM")) == (Decimal("92.00"), Decimal("54.00"))
    assert _stop(h, "MSFT") == Decimal("88.00")
    replans = [e for e in h.events(events.POSITION_STOP_SET) if e["reason"] == "replan"]
    assert len(replans) == 2  # AAPL's and XOM's tightening, nothing after


def test_a_restarted_worker_replans_a_fallback_stop_from_parameters_it_finds(
    fallback_book: Harness,
) -> None:
    h = fallback_book
    h.kill()
    _publish_atrs(h, {"AAPL": "2"})  # published while the worker was down
    h.start(housekeeping_interval=0.0)
    h.settle()
    h.broker_step()
    assert _stop(h, "AAPL") == Decimal("92.00")
    assert h.state("AAPL")[STATE_STOP_BASIS] == "atr"
