"""The book a replay starts from: as the history shows it held when the replay begins.

A symbol whose last position event before the start leaves it held starts at that quantity and
entry price (the live book as it stood). A symbol the history does not show held then (a
what-if over months before the position was opened, or a symbol named with --symbols) starts
with the quantity the book holds today (`universe`), entered at the first price the replay
plays for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import duckdb

from warehouse.tables import POSITION_EVENTS, UNIVERSE


@dataclass(frozen=True, slots=True)
class StartingPosition:
    symbol: str
    qty: Decimal  # signed: negative is a short
    entry_price: Decimal
    source: str  # "history" | "book today"


class NothingToReplayError(ValueError):
    """No symbol of the replay has a position to start from."""


def held_in_history(
    conn: duckdb.DuckDBPyConnection, before: datetime
) -> dict[str, tuple[Decimal, Decimal]]:
    """(signed quantity, entry price) per symbol held after its last position event before
    `before`."""
    rows = conn.execute(
        f"""
        SELECT symbol, quantity, entry_price FROM {POSITION_EVENTS}
        WHERE ts < ? AND quantity IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY ts DESC, stream_id DESC) = 1
        """,
        [before],
    ).fetchall()
    return {s: (Decimal(q), Decimal(e)) for s, q, e in rows if q and e is not None and e > 0}


def held_today(conn: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    rows = conn.execute(f"SELECT symbol, qty FROM {UNIVERSE} WHERE held AND qty <> 0").fetchall()
    return {s: Decimal(q) for s, q in rows}


def starting_book(
    conn: duckdb.DuckDBPyConnection,
    start: datetime,
    first_price: Callable[[str], Decimal | None],
    symbols: Sequence[str] | None = None,
) -> list[StartingPosition]:
    """The positions to open in the replay's broker (see the module docstring); `symbols`
    narrows the book (None: every symbol held then or now)."""
    then = held_in_history(conn, start)
    now = held_today(conn)
    wanted = sorted(set(symbols) if symbols is not None else set(then) | set(now))
    out = []
    for symbol in wanted:
        if symbol in then:
            qty, entry = then[symbol]
            out.append(StartingPosition(symbol, qty, entry, "history"))
            continue
        qty_today = now.get(symbol)
        price = first_price(symbol)
        if qty_today is not None and price is not None:
            out.append(StartingPosition(symbol, qty_today, price, "book today"))
    if not out:
        raise NothingToReplayError(
            "nothing to replay: no symbol of "
            f"{', '.join(wanted) or 'the book'} was held at the start (history) or is held "
            "today with bars in the window"
        )
    return out
