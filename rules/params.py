"""The numbers the rules use, as a plain frozen dataclass (built from Settings at the edge)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from position_manager.cap_class import CapClass

if TYPE_CHECKING:
    from position_manager.config import Settings


@dataclass(frozen=True, slots=True)
class CapClassParams:
    atr_multiplier: Decimal
    stop_min_pct: Decimal
    stop_max_pct: Decimal
    reward_risk: Decimal
    fallback_stop_pct: Decimal
    fallback_target_pct: Decimal
    trail_pct: Decimal


@dataclass(frozen=True, slots=True)
class RuleParams:
    micro: CapClassParams
    large: CapClassParams
    profit_target_1: Decimal = Decimal("0.20")
    profit_target_2: Decimal = Decimal("0.50")
    min_stop_adjustment: Decimal = Decimal("0.10")  # dollars
    min_stop_adjustment_pct: Decimal = Decimal("0.005")  # of the stop price; the smaller wins
    extended_hours_limit_offset: Decimal = Decimal("0.005")
    # Opt-in: a stop breached in PRE or POST (Alpaca's stops do not trigger there) is exited
    # with an extended-hours DAY limit (rules.extended_hours).
    extended_hours_protection: bool = False
    pre_earnings_days: int = 7
    pre_earnings_reduction: Decimal = Decimal("0.5")
    large_loss_alert_pct: Decimal = Decimal("-0.15")
    stale_data_seconds: int = 300
    quote_confirm_move: Decimal = Decimal("0.10")  # a bigger one-quote move is confirmed first
    quote_confirm_tolerance: Decimal = Decimal("0.02")  # how close the broker's trade must be

    def for_class(self, cap_class: CapClass) -> CapClassParams:
        return self.micro if cap_class is CapClass.MICRO else self.large

    @classmethod
    def from_settings(cls, s: Settings) -> RuleParams:
        return cls(
            micro=CapClassParams(
                atr_multiplier=s.atr_multiplier_micro,
                stop_min_pct=s.stop_min_pct_micro,
                stop_max_pct=s.stop_max_pct_micro,
                reward_risk=s.reward_risk_micro,
                fallback_stop_pct=s.fallback_stop_pct_micro,
                fallback_target_pct=s.fallback_target_pct_micro,
                trail_pct=s.trail_percent_micro,
            ),
            large=CapClassParams(
                atr_multiplier=s.atr_multiplier_large,
                stop_min_pct=s.stop_min_pct_large,
                stop_max_pct=s.stop_max_pct_large,
                reward_risk=s.reward_risk_large,
                fallback_stop_pct=s.fallback_stop_pct_large,
                fallback_target_pct=s.fallback_target_pct_large,
                trail_pct=s.trail_percent_large,
            ),
            profit_target_1=s.profit_target_1,
            profit_target_2=s.profit_target_2,
            min_stop_adjustment=s.min_stop_adjustment,
            min_stop_adjustment_pct=s.min_stop_adjustment_pct,
            extended_hours_limit_offset=s.extended_hours_limit_offset,
            extended_hours_protection=s.extended_hours_protection,
            pre_earnings_days=s.pre_earnings_days,
            pre_earnings_reduction=s.pre_earnings_reduction,
            large_loss_alert_pct=s.large_loss_alert_pct,
            stale_data_seconds=s.stale_data_seconds,
            quote_confirm_move=s.quote_confirm_move,
            quote_confirm_tolerance=s.quote_confirm_tolerance,
        )


DEFAULT_PARAMS = RuleParams(
    micro=CapClassParams(
        atr_multiplier=Decimal("2"),
        stop_min_pct=Decimal("0.15"),
        stop_max_pct=Decimal("0.24"),
        reward_risk=Decimal("3"),
        fallback_stop_pct=Decimal("0.20"),
        fallback_target_pct=Decimal("0.60"),
        trail_pct=Decimal("0.09"),
    ),
    large=CapClassParams(
        atr_multiplier=Decimal("1.5"),
        stop_min_pct=Decimal("0.08"),
        stop_max_pct=Decimal("0.15"),
        reward_risk=Decimal("2"),
        fallback_stop_pct=Decimal("0.12"),
        fallback_target_pct=Decimal("0.24"),
        trail_pct=Decimal("0.05"),
    ),
)
