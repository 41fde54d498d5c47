"""The prices a replay plays, from the bars in the warehouse.

Per (symbol, day): the day's minute bars when the warehouse has them (open, then the extreme
nearer the open, the other extreme, then the close, within the minute; a bar with one price is
one quote), else the daily bar expanded into a deterministic regular session
(`simulator.paths.bar_path`), else nothing that day (the position just sits). Minute bars
the simulator served are one price a minute, so a replay of a simulated day plays exactly the
quotes its worker saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb

from pipelines.common import NEW_YORK
from position_manager.market_calendar import MarketDay
from simulator.paths import DailyBar, bar_path, tick_price
from warehouse.tables import DAILY_BARS, MINUTE_BARS

Moment = tuple[datetime, dict[str, Decimal]]


@dataclass(slots=True)
class DayPlan:
    """One day's moments in time order, and where each symbol's prices came from."""

    day: MarketDay
    moments: list[Moment] = field(default_factory=list)
    from_minutes: set[str] = field(default_factory=set)
    from_daily: set[str] = field(default_factory=set)
    without_bars: set[str] = field(default_factory=set)

    def first_price(self, symbol: str) -> Decimal | None:
        for _at, prices in self.moments:
            if symbol in prices:
                return prices[symbol]
        return None


def minute_quotes(
    ts: datetime, o: float, h: float, low: float, c: float
) -> list[tuple[datetime, Decimal]]:
    """A minute bar as up to four prices inside its minute, equal neighbours merged."""
    inner = (low, h) if c >= o else (h, low)
    out: list[tuple[datetime, Decimal]] = []
    for i, value in enumerate((o, *inner, c)):
        price = tick_price(value)
        if not out or out[-1][1] != price:
            out.append((ts + timedelta(seconds=15 * i), price))
    return out


def plan_days(
    conn: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    days: Sequence[MarketDay],
    *,
    seed: int = 0,
    step_minutes: int = 5,
) -> list[DayPlan]:
    if not days or not symbols:
        return [DayPlan(d) for d in days]
    first = datetime.combine(days[0].date, datetime.min.time(), NEW_YORK)
    last = datetime.combine(days[-1].date + timedelta(days=1), datetime.min.time(), NEW_YORK)
    minute_rows = conn.execute(
        f"SELECT symbol, ts, open, high, low, close FROM {MINUTE_BARS} "
        "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) AND ts >= ? AND ts < ? "
        "ORDER BY symbol, ts",
        [list(symbols), first, last],
    ).fetchall()
    by_day: dict[tuple[str, date], list[tuple[datetime, Decimal]]] = defaultdict(list)
    for symbol, ts, o, h, low, c in minute_rows:
        by_day[(symbol, ts.astimezone(NEW_YORK).date())] += minute_quotes(ts, o, h, low, c)
    daily = {
        (s, d): DailyBar(d, o, h, low, c, int(v or 0))
        for s, d, o, h, low, c, v in conn.execute(
            f"SELECT symbol, date, open, high, low, close, volume FROM {DAILY_BARS} "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) AND date BETWEEN ? AND ? "
            "AND quality_issue IS NULL",
            [list(symbols), days[0].date, days[-1].date],
        ).fetchall()
    }
    plans = []
    for day in days:
        plan = DayPlan(day)
        moments: dict[datetime, dict[str, Decimal]] = defaultdict(dict)
        for symbol in symbols:
            played = by_day.get((symbol, day.date))
            if played:
                plan.from_minutes.add(symbol)
            elif (symbol, day.date) in daily:
                bar = daily[(symbol, day.date)]
                played = bar_path(symbol, day, bar, seed=seed, step_minutes=step_minutes)
                plan.from_daily.add(symbol)
            else:
                plan.without_bars.add(symbol)
                continue
            for at, price in played:
                moments[at][symbol] = price
        plan.moments = sorted(moments.items())
        plans.append(plan)
    return plans
