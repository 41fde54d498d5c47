"""What the rules decide. The worker (or a Dagster job) executes these, in order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from position_manager.broker_types import OrderSide, TimeInForce
from rules.model import StopBasis

ExitReason = Literal["profit_target_1", "profit_target_2", "pre_earnings", "stop_breach", "flatten"]


@dataclass(frozen=True, slots=True)
class PlaceStop:
    symbol: str
    side: OrderSide  # sell protects a long, buy protects a short
    qty: Decimal
    stop_price: Decimal
    client_order_id: str
    reason: str = "protect"
    # The stop level's origin: "fallback" is said out loud (event, state, alert).
    basis: StopBasis | None = None


@dataclass(frozen=True, slots=True)
class ReplaceStop:
    symbol: str
    order_id: str
    qty: Decimal
    stop_price: Decimal
    previous_stop_price: Decimal | None
    client_order_id: str
    # replan: a fallback stop tightened to the ATR plan once a real ATR arrived (rules.replan);
    # tighten: a portfolio limit (rules.portfolio_limits)
    reason: Literal["trail", "shrink", "restore", "replan", "tighten"]


@dataclass(frozen=True, slots=True)
class CancelOrder:
    symbol: str
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SubmitExit:
    """Sell (long) or buy-to-cover (short) part or all of a position."""

    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: Literal["market", "limit"]
    limit_price: Decimal | None
    extended_hours: bool
    time_in_force: TimeInForce
    client_order_id: str
    reason: ExitReason


Decision = PlaceStop | ReplaceStop | CancelOrder | SubmitExit


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """An event the rules want published (name from position_manager.events)."""

    name: str
    data: dict[str, Any]
