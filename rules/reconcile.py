"""Match the broker's stop orders to positions: the startup scan and the reconciliation job.

Every stop type counts (stop, stop_limit, trailing_stop, not plain `stop` only) and only
on the closing side (a sell stop protects a long, a buy stop a short).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from position_manager.broker_types import BrokerOrder
from rules.decisions import CancelOrder, Decision
from rules.exits import closing_side
from rules.model import Position
from rules.quantities import stop_quantity
from rules.stop_orders import replace_stop


@dataclass(frozen=True, slots=True)
class SymbolReconciliation:
    symbol: str
    kept_stop: BrokerOrder | None
    decisions: tuple[Decision, ...]
    needs_new_stop: bool


@dataclass
class ReconcileSummary:
    positions: int = 0
    protected: int = 0
    stops_to_place: list[str] = field(default_factory=list)
    stops_to_resize: list[str] = field(default_factory=list)
    duplicates_to_cancel: list[str] = field(default_factory=list)
    orphans_to_cancel: list[str] = field(default_factory=list)
    requests: int = 0  # order requests the jobs will send (what the protection ETA counts)


def protective_stops(position: Position, orders: list[BrokerOrder]) -> list[BrokerOrder]:
    side = closing_side(position.side)
    return [
        o
        for o in orders
        if o.symbol == position.symbol and o.kind.is_stop and o.side == side and o.is_open
    ]


def _best_stop(position: Position, stops: list[BrokerOrder]) -> BrokerOrder:
    """Keep the tightest stop (highest for a long, lowest for a short): it protects most."""

    def level(o: BrokerOrder) -> Decimal:
        return o.stop_price if o.stop_price is not None else Decimal(0)

    return max(stops, key=level) if position.side.sign > 0 else min(stops, key=level)


def reconcile_symbol(position: Position, orders: list[BrokerOrder]) -> SymbolReconciliation:
    stops = protective_stops(position, orders)
    if not stops:
        return SymbolReconciliation(position.symbol, None, (), needs_new_stop=True)
    keep = _best_stop(position, stops)
    decisions: list[Decision] = [
        CancelOrder(position.symbol, o.id, "duplicate stop") for o in stops if o.id != keep.id
    ]
    want = stop_quantity(position.coverable_size)
    if keep.qty is not None and keep.qty != want and keep.stop_price is not None and want > 0:
        decisions.append(
            replace_stop(
                position.symbol,
                position.position_key,
                keep.id,
                want,
                keep.stop_price,
                keep.stop_price,
                "shrink",
            )
        )
    return SymbolReconciliation(position.symbol, keep, tuple(decisions), needs_new_stop=False)


def orphan_stops(held_symbols: set[str], orders: list[BrokerOrder]) -> list[CancelOrder]:
    """Stops for symbols with no position: they would open a position when triggered."""
    return [
        CancelOrder(o.symbol, o.id, "stop without a position")
        for o in orders
        if o.kind.is_stop and o.is_open and o.symbol not in held_symbols
    ]
