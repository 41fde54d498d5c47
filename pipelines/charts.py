"""Small charts in the Dagster UI's metadata, where a trader would rather look than read.

`risk_parameters` shows each symbol's stop distance, coloured by where it came from (the ATR or
the fixed fallback); the history ingest shows realized and unrealized P&L per session date. Each
is a PNG embedded in a markdown metadata value (`![...](data:image/png;base64,...)`), drawn with
matplotlib's Agg backend (no display), small enough for the metadata panel. A chart that cannot
be drawn is left out with a sentence, never a failed run.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg

STOP_COLOURS = {"atr": "tab:blue", "fallback": "tab:orange"}
MAX_BARS = 40  # beyond this the chart shows the widest stops only


def _png_markdown(fig: Any, alt: str) -> dg.MetadataValue:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def stop_distance_chart(rows: Sequence[tuple[str, Decimal, str]]) -> dg.MetadataValue:
    """(symbol, stop_pct, method) -> a horizontal bar per symbol: its stop's distance from the
    price, blue from an ATR, orange at the fallback distance."""
    if not rows:
        return dg.MetadataValue.md("No risk parameters: nothing to draw.")
    shown = sorted(rows, key=lambda r: r[1], reverse=True)[:MAX_BARS]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    try:
        labels = [r[0] for r in shown][::-1]
        values = [float(r[1]) * 100 for r in shown][::-1]
        colours = [STOP_COLOURS.get(r[2], "tab:gray") for r in shown][::-1]
        ax.barh(labels, values, color=colours)
        ax.set_xlabel("stop distance from the price, %")
        ax.set_title("Stops: blue from the ATR, orange at the fallback")
        ax.grid(axis="x", alpha=0.3)
        return _png_markdown(fig, "stop distance per symbol")
    finally:
        plt.close(fig)


def daily_pnl_chart(rows: Sequence[tuple[date, Decimal, Decimal]]) -> dg.MetadataValue:
    """(session date, realized, unrealized at its last mark) -> bars per date."""
    if not rows:
        return dg.MetadataValue.md("No P&L recorded yet: nothing to draw.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    try:
        days = [str(r[0]) for r in rows]
        realized = [float(r[1]) for r in rows]
        unrealized = [float(r[2]) for r in rows]
        ax.bar(days, realized, color="tab:green", label="realized")
        ax.bar(days, unrealized, bottom=realized, color="tab:gray", alpha=0.6, label="unrealized")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("P&L, $")
        ax.set_title("P&L per session date")
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        return _png_markdown(fig, "P&L per session date")
    finally:
        plt.close(fig)


def stop_policy_chart(rows: Sequence[Mapping[str, Any]]) -> dg.MetadataValue:
    """Per settings set: realized P&L and worst drawdown side by side, then stop-outs and those
    followed by recovery."""
    if not rows:
        return dg.MetadataValue.md("No finished replay for this window yet: nothing to draw.")
    plt = _pyplot()
    names = [str(r["settings_set"]) for r in rows]
    x = range(len(names))
    fig, (money, outs) = plt.subplots(1, 2, figsize=(9, 3.2))
    width = 0.4
    money.bar([i - width / 2 for i in x], [float(r["realized_pnl"]) for r in rows], width,
              label="realized P&L", color="#2e7d32")  # fmt: skip
    money.bar([i + width / 2 for i in x], [-float(r["worst_drawdown"]) for r in rows], width,
              label="worst drawdown", color="#c62828")  # fmt: skip
    money.axhline(0, color="black", linewidth=0.6)
    money.set_xticks(list(x), names, rotation=20)
    money.set_title("$ per settings set")
    money.legend(fontsize=7)
    outs.bar([i - width / 2 for i in x], [int(r["stop_outs"]) for r in rows], width,
             label="stop-outs", color="#6d4c41")  # fmt: skip
    outs.bar([i + width / 2 for i in x], [int(r["stop_outs_recovered"]) for r in rows], width,
             label="... then recovered", color="#f9a825")  # fmt: skip
    outs.set_xticks(list(x), names, rotation=20)
    outs.set_title("stop-outs")
    outs.legend(fontsize=7)
    fig.tight_layout()
    return _png_markdown(fig, "what-if: stop settings compared")
