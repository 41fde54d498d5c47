"""A trader's view of the book: each position's stop, target, P&L and the rules' next action.

Used by the `run` command to show what the system decided; it only reads (rules + given prices).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from position_manager.session import Session
from rules.decisions import CancelOrder, Decision, PlaceStop, ReplaceStop, SubmitExit
from rules.evaluate import evaluate_quote
from rules.model import Position, Quote
from rules.params import RuleParams
from rules.stops import stop_and_target


@dataclass(frozen=True, slots=True)
class BookLine:
    position: Position
    price: Decimal
    stop_price: Decimal
    target_price: Decimal | None
    stop_method: str
    pnl: Decimal
    pnl_pct: Decimal
    next_action: str


def describe(decision: Decision) -> str:
    if isinstance(decision, PlaceStop):
        return f"place {decision.side} stop {decision.qty} @ {decision.stop_price}"
    if isinstance(decision, ReplaceStop):
        return f"{decision.reason}: stop -> {decision.qty} @ {decision.stop_price}"
    if isinstance(decision, CancelOrder):
        return f"cancel {decision.order_id} ({decision.reason})"
    if isinstance(decision, SubmitExit):
        price = f" limit {decision.limit_price}" if decision.limit_price is not None else ""
        return f"{decision.reason}: {decision.side} {decision.qty} {decision.order_type}{price}"
    return str(decision)


def book_lines(
    positions: Iterable[Position],
    prices: Mapping[str, Decimal],
    atrs: Mapping[str, Decimal | None],
    session: Session,
    params: RuleParams,
) -> list[BookLine]:
    lines = []
    now = datetime.now(UTC)
    for pos in positions:
        price = prices.get(pos.symbol, pos.last_price or pos.entry_price)
        atr = atrs.get(pos.symbol)
        plan = stop_and_target(pos.entry_price, pos.side, pos.cap_class, atr, params)
        ev = evaluate_quote(pos, Quote(pos.symbol, price, now), session, params, atr=atr)
        action = "; ".join(describe(d) for d in ev.decisions) or "hold"
        lines.append(
            BookLine(
                position=pos,
                price=price,
                stop_price=pos.stop_price or plan.stop_price,
                target_price=pos.target_price or plan.target_price,
                stop_method=plan.method if atr is not None else "fallback",
                pnl=ev.pnl.unrealized,
                pnl_pct=ev.pnl.unrealized_pct,
                next_action=action,
            )
        )
    return lines


def render_book(lines: list[BookLine], title: str, console: Console | None = None) -> None:
    table = Table(title=title, header_style="bold")
    for name in ("symbol", "qty", "entry", "last", "P&L $", "P&L %", "stop", "target", "next"):
        table.add_column(name, justify="left" if name in ("symbol", "next") else "right")
    for line in lines:
        pos = line.position
        colour = "green" if line.pnl >= 0 else "red"
        table.add_row(
            f"{pos.symbol} ({pos.cap_class})",
            f"{pos.quantity.normalize():f}",
            f"{pos.entry_price}",
            f"{line.price}",
            f"[{colour}]{line.pnl:,.2f}[/]",
            f"[{colour}]{line.pnl_pct * 100:+.1f}%[/]",
            f"{line.stop_price} ({line.stop_method})"
            + (" ✓" if pos.stop_order_id else " [red]no order[/]"),
            f"{line.target_price}" if line.target_price is not None else "-",
            line.next_action,
        )
    (console or Console()).print(table)
