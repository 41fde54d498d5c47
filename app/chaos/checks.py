"""The invariants at the end of a chaos run, checked against three records that must agree: the
broker (the simulator's book: every order and its fills), the Redis streams (each event once; a
position event for every order that reached the broker) and the DuckDB history (closed trades'
realized P&L equal to the broker's fills, to the cent). What the sampler saw during the run
(unprotected windows, oversells and flips while they happened, the request peak) is folded in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from app.chaos.figures import Figure, zero
from app.chaos.history import ClosedTrade
from app.chaos.market import BY_SYMBOL, GARBAGE_SYMBOL
from app.chaos.monitor import Observed
from app.chaos.observe import decision_of, order_views, position_key, positions
from position_manager import events
from position_manager.broker_types import STOP_ORDER_TYPES
from rules.invariants import (
    events_once,
    no_oversell_or_flip,
    profit_levels_sold_once,
    whole_shares_covered,
)
from simulator.state import SimBook, SimOrder

CENT = Decimal("0.01")
# Position events that name the order they are about, and the field that names it.
_NAMING = {
    events.POSITION_STOP_SET: "stop_order_id",
    events.POSITION_TRAILING_STOP_UPDATED: "stop_order_id",
    events.POSITION_PROFIT_TAKING: "order_id",
    events.POSITION_EARNINGS_REDUCTION: "order_id",
    events.POSITION_STOP_HIT: "order_id",
    events.POSITION_CLOSED: "order_id",
}


@dataclass(frozen=True, slots=True)
class Records:
    """What the checks read once everything has stopped."""

    book: SimBook
    position_events: Sequence[events.Event]
    alert_events: Sequence[events.Event]
    closed_trades: Sequence[ClosedTrade]
    stats: dict[str, int]
    worker: dict[str, Decimal] = field(default_factory=dict)  # its state's quantities at the end


def _filled(order: SimOrder) -> bool:
    return order.filled_qty > 0


def _ours(book: SimBook) -> list[SimOrder]:
    return [o for o in book.orders.values() if o.client_order_id.startswith("pm-")]


def story_parts(book: SimBook) -> dict[str, bool]:
    """What of the scripted market happened at the broker: a stop trailed (replaced tighter than
    the first one), both profit levels and the earnings cut filled, a long's and a short's stop
    filled (or their breach exits)."""
    orders = _ours(book)

    def filled(symbol: str, marker: str) -> bool:
        return any(
            o.symbol == symbol and marker in o.client_order_id and _filled(o) for o in orders
        )

    def stop_filled(symbol: str) -> bool:
        return any(
            o.symbol == symbol
            and _filled(o)
            and (o.type in STOP_ORDER_TYPES or "-breach-" in o.client_order_id)
            for o in orders
        )

    def trailed(symbol: str) -> bool:
        stops = [o for o in orders if o.symbol == symbol and o.type in STOP_ORDER_TYPES]
        first = next((o.stop_price for o in stops if "-stop-g" in o.client_order_id), None)
        tighter = (lambda p: p > first) if BY_SYMBOL[symbol].is_long else (lambda p: p < first)
        return first is not None and any(
            o.stop_price is not None and tighter(o.stop_price) for o in stops
        )

    return {
        "trailing": any(trailed(s) for s in ("AAPL", "NVDA", "XOM")),
        "profit level 1": filled("NVDA", "-tp1"),
        "profit level 2": filled("NVDA", "-tp2"),
        "long stop hit": stop_filled("SNDL"),
        "short stop hit": stop_filled("XOM"),
        "earnings cut": filled("AAPL", "-earn-"),
    }


def story(book: SimBook) -> Figure:
    """The scripted market happened: without it the other figures prove little."""
    parts = story_parts(book)
    done = sum(parts.values())
    return Figure(
        "story: trailing, both profit levels, stop hits (long, short), earnings cut",
        done,
        f"{len(parts)} of {len(parts)}",
        done == len(parts),
        shown=f"{done} of {len(parts)}",
        details=[f"did not happen: {name}" for name, ok in parts.items() if not ok],
    )


def duplicate_orders(book: SimBook, observed: Observed) -> list[str]:
    """One decision (a profit level, one report date's cut, a stop-breach exit) filled by two
    orders, or two of its orders working at once."""
    fills: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o in _ours(book):
        decision = decision_of(o.client_order_id)
        if decision is not None and _filled(o):
            fills[decision].append(o.client_order_id)
    out = [f"{k} {d}: filled by {ids}" for (k, d), ids in fills.items() if len(ids) > 1]
    return out + sorted(observed.decisions_twice)


def oversells(book: SimBook, observed: Observed) -> list[str]:
    final = no_oversell_or_flip(positions(book), order_views(book))
    return sorted(set(observed.oversold.values()) | set(final))


def flips(book: SimBook, observed: Observed) -> list[str]:
    now = {
        s for s, q in positions(book).items() if s in BY_SYMBOL and (q > 0) != BY_SYMBOL[s].is_long
    }
    return [f"{s}: held on the other side" for s in sorted(observed.flipped | now)]


def double_profit_levels(book: SimBook) -> list[str]:
    originals: dict[str, Decimal] = {}
    for o in _ours(book):
        key = position_key(o.client_order_id)
        if key is not None and o.symbol in BY_SYMBOL:
            originals[key] = abs(BY_SYMBOL[o.symbol].qty)
    levels: Counter[tuple[str, str]] = Counter()
    for o in _ours(book):
        decision = decision_of(o.client_order_id)
        if decision is not None and decision[1] in ("tp1", "tp2") and _filled(o):
            levels[decision] += 1
    twice = [f"{k} {level}: filled {n} times" for (k, level), n in levels.items() if n > 1]
    return twice + profit_levels_sold_once(order_views(book), originals)


def lost_events(records: Records) -> list[str]:
    """A position event for every order that reached the broker, a stop hit for every stop that
    filled, a close for every position the broker no longer holds."""
    named: dict[str, set[str]] = defaultdict(set)
    for e in records.position_events:
        field = _NAMING.get(e.event)
        if field and e.data.get(field):
            named[str(e.data[field])].add(e.event)
    out = []
    for o in _ours(records.book):
        if o.id not in named:
            out.append(f"{o.symbol}: order {o.client_order_id} ({o.status}) has no position event")
        elif (
            o.type in STOP_ORDER_TYPES
            and _filled(o)
            and not named[o.id] & {events.POSITION_STOP_HIT, events.POSITION_CLOSED}
        ):
            out.append(f"{o.symbol}: stop {o.client_order_id} filled, no stop_hit or closed")
    closed = {
        str(e.data.get("symbol"))
        for e in records.position_events
        if e.event == events.POSITION_CLOSED
    }
    held = positions(records.book)
    for symbol in BY_SYMBOL:
        if symbol not in held and symbol not in closed:
            out.append(f"{symbol}: flat at the broker, no position.closed")
    return out


def duplicate_events(records: Records) -> list[str]:
    out = events_once(records.position_events)
    seen: Counter[tuple[str, str]] = Counter()
    for e in records.position_events:
        field = _NAMING.get(e.event)
        if field and e.data.get(field) and e.event != events.POSITION_STOP_SET:
            seen[(e.event, str(e.data[field]))] += 1
    return out + [f"{name} for order {oid}: {n} times" for (name, oid), n in seen.items() if n > 1]


def broker_realized(book: SimBook) -> dict[str, Decimal]:
    """Realized P&L per symbol from the broker's own fills of closing orders."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for o in book.orders.values():
        holding = BY_SYMBOL.get(o.symbol)
        if holding is None or not _filled(o) or o.filled_avg_price is None:
            continue
        closing = "sell" if holding.is_long else "buy"
        if o.side == closing:
            sign = 1 if holding.is_long else -1
            out[o.symbol] += (o.filled_avg_price - holding.entry) * o.filled_qty * sign
    return out


def pnl_mismatches(records: Records) -> list[str]:
    fills = broker_realized(records.book)
    held = positions(records.book)
    history = {t.symbol: t for t in records.closed_trades}
    out = []
    for symbol in BY_SYMBOL:
        if symbol in held:
            if symbol in history:
                out.append(f"{symbol}: still held at the broker but closed in closed_trades")
            continue
        broker = fills.get(symbol, Decimal(0)).quantize(CENT)
        trade = history.get(symbol)
        if trade is None:
            out.append(f"{symbol}: closed at the broker ({broker}), not in closed_trades")
        elif trade.realized_pnl.quantize(CENT) != broker:
            out.append(
                f"{symbol}: closed_trades {trade.realized_pnl.quantize(CENT)}, "
                f"broker fills {broker}"
            )
    return out


def garbage_traded(book: SimBook) -> list[str]:
    """The garbage symbol's price never moved at the broker: any order for it but its
    protective stop was traded on a forged or malformed quote."""
    return [
        f"{GARBAGE_SYMBOL}: {o.client_order_id} {o.side} {o.qty} ({o.status})"
        for o in book.orders.values()
        if o.symbol == GARBAGE_SYMBOL and "-stop-g" not in o.client_order_id
    ]


def unprotected_windows(observed: Observed, limit: float) -> list[Figure]:
    out = []
    for symbol in BY_SYMBOL:
        longest = observed.longest_unprotected.get(symbol, 0.0)
        out.append(
            Figure(
                f"longest unprotected window: {symbol}",
                round(longest, 1),
                f"<= {limit:g} s",
                longest <= limit,
                shown=f"{longest:.1f} s",
            )
        )
    return out


def disagreement(observed: Observed, limit: float) -> Figure:
    """The longest the worker's own record of a position (its state hash) differed from the
    broker's: a fill takes a moment to reach it, an update lost with Redis waits for the next
    catch-up (a restart, or the timer), a quantity counted twice stays wrong."""
    longest = observed.longest_disagreement
    worst = max(longest, key=lambda s: longest[s], default=None)
    seconds = longest[worst] if worst else 0.0
    details = [
        f"{symbol}: {longest[symbol]:.1f} s ({observed.disagreements.get(symbol, '')})"
        for symbol in sorted(longest, key=lambda s: -longest[s])
        if longest[symbol] > 0
    ]
    return Figure(
        "longest the worker's quantity differed from the broker's",
        round(seconds, 1),
        f"<= {limit:g} s",
        seconds <= limit,
        shown=f"{seconds:.1f} s" + (f" ({worst})" if worst and seconds else ""),
        details=details,
    )


def final_disagreements(book: SimBook, worker: dict[str, Decimal]) -> list[str]:
    out = []
    for symbol in BY_SYMBOL:
        at_broker = abs(book.positions[symbol].qty) if symbol in book.positions else Decimal(0)
        recorded = worker.get(symbol, Decimal(0))
        if recorded != at_broker:
            out.append(f"{symbol}: the worker holds {recorded}, the broker {at_broker}")
    return out


def check(
    records: Records,
    observed: Observed,
    limit_s: float,
    rate_limit: int,
    catch_up_s: float,
) -> list[Figure]:
    """Every invariant figure of the table (the run's own counts are added by the runner).
    `catch_up_s`: the worker's catch-up timer; its record may lag the broker that long, and
    `limit_s` more."""
    book = records.book
    breaker = sum(1 for e in records.alert_events if e.event == events.ALERT_CIRCUIT_OPEN)
    peak = observed.peak_requests()
    uncovered = whole_shares_covered(positions(book), order_views(book))
    worker = records.worker
    return [
        Figure("orders at the broker", len(_ours(book))),
        story(book),
        zero("duplicate orders for one decision", duplicate_orders(book, observed)),
        zero("oversells", oversells(book, observed)),
        zero("flips", flips(book, observed)),
        zero("double profit levels", double_profit_levels(book)),
        zero("lost events", lost_events(records)),
        zero("duplicate events", duplicate_events(records)),
        zero("closed_trades P&L != broker fills (to the cent)", pnl_mismatches(records)),
        *unprotected_windows(observed, limit_s),
        zero("positions not fully covered at the end", uncovered),
        disagreement(observed, catch_up_s + limit_s),
        zero("the worker's book != the broker's at the end", final_disagreements(book, worker)),
        Figure("peak requests per 60 s", peak, f"<= {rate_limit}", peak <= rate_limit),
        Figure("breaker openings (alert.circuit_open)", breaker),
        zero("garbage traded on", garbage_traded(book)),
    ]
