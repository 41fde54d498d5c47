"""Protection first when the budget is short: the startup scan protects the most urgent position
first (`rules.protection_order`): one already through its stop, then by notional over distance
to a breach, so a large position close to its stop is not left waiting behind a small one."""

from __future__ import annotations

from decimal import Decimal

from rules.model import Position, Side
from rules.protection_order import protection_eta_seconds, urgency
from tests.support.worker_harness import Harness, risk_params


def _position(symbol: str, qty: str, entry: str) -> Position:
    return Position(
        symbol=symbol,
        quantity=Decimal(qty),
        entry_price=Decimal(entry),
        original_quantity=abs(Decimal(qty)),
        position_key=f"{symbol}-l-0123456789",
    )


def test_breached_first_then_notional_over_the_distance_to_a_breach() -> None:
    stop = Decimal(92)
    big_far = urgency(_position("A", "1000", "100"), Decimal(130), stop)  # 130k, 29 % away
    small_near = urgency(_position("B", "10", "100"), Decimal("92.5"), stop)  # 925, 0.5 % away
    big_near = urgency(_position("C", "1000", "100"), Decimal(93), stop)  # 93k, 1 % away
    through = urgency(_position("D", "1", "100"), Decimal(90), stop)  # breached: first of all
    ranked = sorted([("A", big_far), ("B", small_near), ("C", big_near), ("D", through)],
                    key=lambda pair: pair[1])  # fmt: skip
    # 130k at 29 % (exposure 445k) still outranks 925 dollars at 0.5 % (171k): the small one can
    # lose at most its notional.
    assert [name for name, _ in ranked] == ["D", "C", "A", "B"]


def test_a_short_is_ranked_by_its_own_distance() -> None:
    short = Position(
        symbol="XOM", quantity=Decimal(-100), entry_price=Decimal(100),
        original_quantity=Decimal(100), position_key="XOM-s-0123456789",
    )  # fmt: skip
    assert short.side is Side.SHORT
    near = urgency(short, Decimal(107), Decimal(108))
    far = urgency(short, Decimal(90), Decimal(108))
    assert near < far and urgency(short, Decimal(109), Decimal(108)).breached == 0


def test_the_eta_is_the_budgets_floor() -> None:
    assert protection_eta_seconds(1000, 200) == 240.0  # the first 200 at once, then 200 a minute
    assert protection_eta_seconds(150, 200) == 0.0
    assert protection_eta_seconds(0, 200) == 0.0


def test_the_startup_scan_sends_the_most_urgent_first(harness: Harness) -> None:
    book = [
        ("NVDA", Decimal(100), Decimal(100)),  # at 130: far from its 92 stop
        ("AAPL", Decimal(10), Decimal(100)),  # at 93: close, but small
        ("KO", Decimal(1000), Decimal(60)),  # at 60: 60k, 8 % from 55.20
        ("XOM", Decimal(10), Decimal(100)),  # at 50: through its stop
    ]
    marks = {"NVDA": Decimal(130), "AAPL": Decimal(93), "KO": Decimal(60), "XOM": Decimal(50)}
    harness.sim.simulator.seed_positions(book, marks)
    for symbol, _, _ in book:
        risk_params(harness.client, symbol, atr="1")
    harness.start(threads=1)  # one order thread: the broker sees the submission order
    harness.settle()
    sent = [o.symbol for o in harness.sim.simulator.engine.book.orders.values()]
    assert sent == ["XOM", "KO", "AAPL", "NVDA"]
    assert harness.worker is not None and harness.worker.summary is not None
    assert harness.worker.summary.requests == 4
