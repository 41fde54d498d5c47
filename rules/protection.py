"""Protect an unprotected position: a GTC stop at the planned (or already trailed) level.

If the market is already through that level a stop would be refused or fill at once, so the
position is exited instead when the session allows it (the "stop breach" exit).
"""

from __future__ import annotations

from decimal import Decimal

from rules.decisions import Decision, PlaceStop
from rules.exits import build_exit, closing_side
from rules.model import Position, Side, StopBasis
from rules.order_ids import emergency_exit_order_id, stop_order_id
from rules.params import RuleParams
from rules.partial_exit import exit_with_stop_fitted
from rules.quantities import stop_quantity
from rules.session_policy import ExitStyle, policy_for
from rules.stop_orders import replace_stop
from rules.stops import stop_and_target
from rules.ticks import round_up_to_tick


def planned_stop(
    position: Position, atr: Decimal | None, params: RuleParams
) -> tuple[Decimal, StopBasis | None]:
    """The position's current stop level if it has one (it may have trailed), with the basis it
    had; else the ATR plan, whose basis is "fallback" when there was no usable ATR."""
    if position.stop_price is not None:
        return position.stop_price, position.stop_basis
    plan = stop_and_target(position.entry_price, position.side, position.cap_class, atr, params)
    return plan.stop_price, plan.method


def planned_stop_price(position: Position, atr: Decimal | None, params: RuleParams) -> Decimal:
    """The position's current stop level if it has one (it may have trailed), else the ATR plan."""
    return planned_stop(position, atr, params)[0]


def is_breached(side: Side, stop_price: Decimal, price: Decimal) -> bool:
    return price <= stop_price if side is Side.LONG else price >= stop_price


def protect_decisions(
    position: Position, atr: Decimal | None, price: Decimal | None, params: RuleParams
) -> list[Decision]:
    """Decisions that leave `position` protected; empty if it already is (or cannot be: under
    one share, see quantities.stop_quantity)."""
    if position.is_protected or position.coverable_size == 0:
        return []  # protected, or a working exit already holds every share
    stop, basis = planned_stop(position, atr, params)
    policy = policy_for(position.session)
    if price is not None and is_breached(position.side, stop, price):
        if policy.exit_style is None:
            return []
        return [
            build_exit(
                position,
                position.coverable_size,
                price,
                policy.exit_style,
                "stop_breach",
                emergency_exit_order_id(position.position_key, stop, position.exit_generation),
                params.extended_hours_limit_offset,
            )
        ]
    qty = stop_quantity(position.coverable_size)
    if qty <= 0 or not policy.place_protective_stop:
        return []
    return [
        PlaceStop(
            symbol=position.symbol,
            side=closing_side(position.side),
            qty=qty,
            stop_price=stop,
            client_order_id=stop_order_id(position.position_key, position.stop_generation),
            basis=basis,
        )
    ]


def restore_decisions(position: Position) -> list[Decision]:
    """Grow a live stop that covers fewer whole shares than the position can carry (a sale that
    shrank it first, then failed or expired, gave the shares back): same stop price, full size."""
    if position.stop_order_id is None or position.stop_price is None:
        return []
    want = stop_quantity(position.coverable_size)
    if position.stop_quantity is None or position.stop_quantity >= want:
        return []
    return [
        replace_stop(
            position.symbol,
            position.position_key,
            position.stop_order_id,
            want,
            position.stop_price,
            position.stop_price,
            "restore",
        )
    ]


def buy_stop_collar_limit(stop_price: Decimal) -> Decimal:
    """Alpaca turns a buy stop into a stop-limit: the limit 4 % above the stop under $50, 2.5 %
    above otherwise. Above it, a triggered buy stop rests unfilled."""
    collar = Decimal("1.04") if stop_price < 50 else Decimal("1.025")
    return round_up_to_tick(stop_price * collar)


def resting_buy_stop(position: Position, price: Decimal) -> bool:
    """A short whose stop was already reported hit (an earlier quote crossed it) while the price
    is still beyond the stop's collar: the stop-limit rests, the short is not covered."""
    return (
        position.side is Side.SHORT
        and position.stop_order_id is not None
        and position.stop_price is not None
        and position.stop_hit_for == position.stop_order_id
        and price > buy_stop_collar_limit(position.stop_price)
    )


def escalate_resting_stop(
    position: Position, price: Decimal, style: ExitStyle, params: RuleParams
) -> list[Decision]:
    """Cancel the resting stop-limit and cover with a marketable order instead (the executor
    waits for the cancel to land, and sends nothing if the stop filled meanwhile)."""
    assert position.stop_price is not None
    return exit_with_stop_fitted(
        position,
        position.coverable_size,
        price,
        style,
        "stop_breach",
        emergency_exit_order_id(
            position.position_key, position.stop_price, position.exit_generation
        ),
        params,
    )
