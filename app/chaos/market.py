"""The scripted market of a chaos run: the book it opens, each symbol's price path, the risk
parameters the pipeline would publish, and the hostile messages pushed at the garbage symbol.

The paths make every part of the lifecycle happen once the worker keeps up: AAPL reports within
the week (the pre-earnings cut) and rises (trailing); NVDA rises through +20 %, stays between the
two levels for two fifths of the run, then passes +50 % (both profit levels) while trailing; the
XOM short falls (its buy stop trails down) and then rallies past even its first stop (a short's
stop hit, however little it trailed); SNDL, a micro-cap, falls through its stop; MSFT only wobbles
(held all along: its stop must be there throughout); KO's price never moves at the broker while
forged and malformed quotes for it are pushed to the worker (nothing may be traded on them);
JPM is bought by hand through the API before the worker starts (the worker adopts it; its entry
fill is in the broker's history, which catch-up must not count again) and reaches +25 %.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from position_manager import events
from position_manager.cap_class import CapClass
from position_manager.redis_schema import encode_risk_hash
from rules.ticks import round_to_tick, tick_size

GARBAGE_SYMBOL = "KO"


@dataclass(frozen=True, slots=True)
class Holding:
    """A position the chaos book opens, and where its price goes (multiples of `entry` at
    fractions of the market's duration, linear in between)."""

    symbol: str
    qty: Decimal  # negative: a short
    entry: Decimal
    cap_class: CapClass
    atr: Decimal
    path: tuple[tuple[float, float], ...]
    report_in_days: int | None = None  # next earnings report, days after today (New York)
    by_hand: bool = False  # bought through the API before the worker starts, not seeded

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    def multiple_at(self, progress: float) -> float:
        points = self.path
        if progress <= points[0][0]:
            return points[0][1]
        for (p0, m0), (p1, m1) in itertools.pairwise(points):
            if progress <= p1:
                return m0 + (m1 - m0) * (progress - p0) / (p1 - p0)
        return points[-1][1]

    def price_at(self, progress: float) -> Decimal:
        return round_to_tick(self.entry * Decimal(repr(self.multiple_at(progress))))


BOOK: tuple[Holding, ...] = (
    Holding("AAPL", Decimal(50), Decimal("185.00"), CapClass.LARGE, Decimal(4),
            ((0.0, 1.0), (1.0, 1.12)), report_in_days=3),
    Holding("NVDA", Decimal(40), Decimal("118.50"), CapClass.LARGE, Decimal(3),
            ((0.0, 1.0), (0.2, 1.24), (0.6, 1.32), (0.8, 1.56), (1.0, 1.58))),
    Holding("XOM", Decimal(-30), Decimal("113.00"), CapClass.LARGE, Decimal(3),
            ((0.0, 1.0), (0.4, 0.90), (0.7, 1.10), (1.0, 1.10))),
    Holding("SNDL", Decimal(1500), Decimal("2.05"), CapClass.MICRO, Decimal("0.15"),
            ((0.0, 1.0), (0.55, 0.75), (1.0, 0.74))),
    Holding("MSFT", Decimal(20), Decimal("405.00"), CapClass.LARGE, Decimal(6),
            ((0.0, 1.0), (0.25, 1.004), (0.5, 0.997), (0.75, 1.003), (1.0, 1.0))),
    Holding(GARBAGE_SYMBOL, Decimal(100), Decimal("62.00"), CapClass.LARGE, Decimal("1.5"),
            ((0.0, 1.0), (1.0, 1.0))),
    Holding("JPM", Decimal(30), Decimal("210.00"), CapClass.LARGE, Decimal(4),
            ((0.0, 1.0), (0.3, 1.02), (0.6, 1.25), (1.0, 1.26)), by_hand=True),
)  # fmt: skip
BY_SYMBOL = {h.symbol: h for h in BOOK}


def stepped(progress: float, steps: int) -> float:
    """Progress on a grid of `steps`: prices move in steps, and repeat between them (a trailing
    stop then moves at most once a step, not on every quote)."""
    return min(1.0, int(progress * steps) / steps)


def quote(symbol: str, price: Decimal, ts: datetime) -> dict[str, str]:
    tick = tick_size(price)
    return {
        "symbol": symbol,
        "bid": str(price - tick),
        "ask": str(price + tick),
        "last": str(price),
        "timestamp": ts.isoformat(),
    }


def risk_hashes(today: date) -> dict[str, dict[str, str]]:
    """The risk-parameter hash each symbol would have from the pipeline (`risk_parameters`)."""
    out = {}
    for h in BOOK:
        report = today + timedelta(days=h.report_in_days) if h.report_in_days else None
        out[h.symbol] = encode_risk_hash(
            symbol=h.symbol,
            cap_class=h.cap_class.value,
            atr=float(h.atr),
            atr_period=14,
            atr_method="sma",
            atr_pct=float(h.atr / h.entry),
            reference_price=float(h.entry),
            stop_pct=Decimal("0.08"),
            target_pct=Decimal("0.16"),
            trail_pct=Decimal("0.05") if h.cap_class is CapClass.LARGE else Decimal("0.09"),
            next_report_date=report,
            market_cap=3e12 if h.cap_class is CapClass.LARGE else 2e8,
            profile_source="chaos",
            as_of=datetime.now(UTC),
        )
    return out


def garbage(price: Decimal, ts: datetime) -> list[dict[str, str]]:
    """Hostile quotes for the garbage symbol, as raw stream fields: forged prices the market
    never traded (+50 % would take both profit levels, -40 % would breach the stop), and
    malformed ones (an infinite price, other scripts' digits, NaN, a negative price, a crossed
    quote, data that is not JSON)."""
    good = quote(GARBAGE_SYMBOL, price, ts)

    def with_data(**changes: Any) -> dict[str, str]:
        return events.encode_event(events.QUOTE_UPDATED, {**good, **changes})

    up, down = round_to_tick(price * Decimal("1.5")), round_to_tick(price * Decimal("0.6"))
    broken = events.encode_event(events.QUOTE_UPDATED, good)
    broken["data"] = json.dumps(good)[:-5]
    return [
        with_data(bid=str(up - 1), ask=str(up + 1), last=str(up)),
        with_data(bid=str(down - 1), ask=str(down + 1), last=str(down)),
        with_data(last="1e999"),
        with_data(bid="\u0666\u0662", ask="\u0666\u0663"),
        with_data(bid="NaN", ask="NaN", last="NaN"),
        with_data(bid="-62", ask="-61", last="-62"),
        with_data(bid=str(price + 5), ask=str(price - 5)),
        broken,
    ]
