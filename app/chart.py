"""`position-manager chart SYMBOL`: one picture of a symbol's history from DuckDB.

Price (the marks the worker saw and every fill), the protective stop as a step line coloured by
its basis (atr, fallback, trailed), and the fills as markers: what a trader would otherwise piece
together from `position_history` row by row. The series plotted are returned too, so a caller
(and a test) knows exactly what the picture shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_manager import events
from position_manager.errors import PositionManagerError
from warehouse.connection import open_warehouse

BASIS_COLOURS = {"atr": "tab:blue", "fallback": "tab:orange", "trailed": "tab:green"}
_DECISIONS = (events.POSITION_PROFIT_TAKING, events.POSITION_EARNINGS_REDUCTION)
_FILL_EVENTS = (
    events.POSITION_OPENED,
    events.POSITION_REDUCED,
    events.POSITION_CLOSED,
)


class ChartError(PositionManagerError):
    """Nothing to draw: no warehouse, or no history for the symbol."""


@dataclass(frozen=True, slots=True)
class StopLevel:
    at: datetime
    price: Decimal
    basis: str  # atr | fallback | trailed


@dataclass(frozen=True, slots=True)
class Fill:
    at: datetime
    price: Decimal
    qty: Decimal
    kind: str  # opened | reduced | closed


@dataclass
class ChartSeries:
    symbol: str
    prices: list[tuple[datetime, Decimal]] = field(default_factory=list)
    stops: list[StopLevel] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    ends_at: datetime | None = None  # the close, if the position closed
    last_at: datetime | None = None  # the last event: an open position's lines end there


def _basis(event: str, data: dict[str, Any], previous: str) -> str:
    """What a stop level rests on: `basis` when the event names it; a trail is `trailed`; a new
    stop (`protect`) is `atr`; a resize or restore keeps the level's basis."""
    basis = str(data.get("basis") or "")
    if basis in BASIS_COLOURS:
        return basis
    if event == events.POSITION_TRAILING_STOP_UPDATED or data.get("reason") == "trail":
        return "trailed"
    return "atr" if data.get("reason") == "protect" else previous


def read_series(warehouse: Path, symbol: str) -> ChartSeries:
    """The symbol's history, as the chart plots it (read-only)."""
    if not warehouse.exists():
        raise ChartError(f"no warehouse at {warehouse}: run the demo or `up` first")
    with open_warehouse(warehouse, read_only=True) as conn:
        rows = conn.execute(
            "SELECT h.ts, h.event, h.price, h.stop_price, h.filled_qty, e.data "
            "FROM position_history AS h JOIN position_events AS e USING (stream_id) "
            "WHERE h.symbol = ? ORDER BY h.ts, h.stream_id",
            [symbol],
        ).fetchall()
    if not rows:
        raise ChartError(f"no history for {symbol!r} in {warehouse}")
    series = ChartSeries(symbol)
    for ts, event, price, stop_price, filled_qty, raw in rows:
        data = json.loads(raw) if raw else {}
        if price is not None and event not in _DECISIONS:  # a decision's price never traded
            series.prices.append((ts, Decimal(price)))
        if stop_price is not None and event in (
            events.POSITION_STOP_SET,
            events.POSITION_TRAILING_STOP_UPDATED,
        ):
            previous = series.stops[-1].basis if series.stops else "atr"
            basis = _basis(event, data, previous)
            series.stops.append(StopLevel(ts, Decimal(stop_price), basis))
        if event in _FILL_EVENTS and price is not None and filled_qty:
            kind = event.split(".", 1)[1]
            series.fills.append(Fill(ts, Decimal(price), Decimal(filled_qty), kind))
        if event == events.POSITION_CLOSED:
            series.ends_at = ts
        series.last_at = ts
    return series


def draw(series: ChartSeries, out: Path) -> Path:
    """Write the PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    try:
        if series.prices:
            times, prices = zip(*series.prices, strict=True)
            ax.plot(times, [float(p) for p in prices], color="black", lw=1.2, label="price")
        end = series.ends_at or series.last_at
        if series.ends_at is None and end is not None and series.prices:
            # An open position: its stop still rests; draw the last level a little way on.
            end = end + (end - series.prices[0][0]) * 0.04
        for i, level in enumerate(series.stops):
            until = series.stops[i + 1].at if i + 1 < len(series.stops) else end or level.at
            ax.hlines(
                float(level.price),
                level.at,  # type: ignore[arg-type]
                until,  # type: ignore[arg-type]
                colors=BASIS_COLOURS[level.basis],
                lw=2,
                label=f"stop ({level.basis})",
            )
        for fill in series.fills:
            marker = "^" if fill.kind == "opened" else "v"
            colour = "tab:green" if fill.kind == "opened" else "tab:red"
            ax.scatter([fill.at], [float(fill.price)], marker=marker, color=colour, s=60, zorder=3)  # type: ignore[arg-type]
            ax.annotate(
                f"{fill.kind} {fill.qty.normalize():f} @ {fill.price:.2f}",
                (fill.at, float(fill.price)),  # type: ignore[arg-type]
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=8,
            )
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), loc="best", fontsize=8)
        ax.set_title(f"{series.symbol}: price, stop and fills (broker time)")
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out


def chart(warehouse: Path, symbol: str, out: Path | None = None) -> tuple[Path, ChartSeries]:
    series = read_series(warehouse, symbol)
    path = out or Path(f"{symbol}.png")
    return draw(series, path), series
