"""Portfolio limits, the pure part: which limit is crossed, and where a tightened stop goes."""

from __future__ import annotations

from decimal import Decimal

from rules.model import Position
from rules.portfolio_limits import PortfolioLimits, find_breach, new_peak, tightened_stop

LIMITS = PortfolioLimits(daily_loss_pct=Decimal("0.03"), max_drawdown_pct=Decimal("0.10"))


def _position(qty: str, stop: str | None) -> Position:
    return Position(
        symbol="KO",
        quantity=Decimal(qty),
        entry_price=Decimal(60),
        original_quantity=abs(Decimal(qty)),
        position_key="KO-l-0123456789",
        stop_price=Decimal(stop) if stop else None,
    )


def test_the_daily_loss_counts_from_the_previous_close() -> None:
    assert find_breach(LIMITS, Decimal(97_001), Decimal(100_000), Decimal(100_000)) is None
    breach = find_breach(LIMITS, Decimal(97_000), Decimal(100_000), Decimal(100_000))
    assert breach is not None and breach.kind == "daily_loss"
    assert breach.loss_pct == Decimal("0.03")
    assert "3.00% under the previous close" in breach.message


def test_the_drawdown_counts_from_the_peak_even_on_a_green_day() -> None:
    breach = find_breach(LIMITS, Decimal(108_000), Decimal(105_000), Decimal(120_000))
    assert breach is not None and breach.kind == "drawdown" and breach.reference == 120_000
    assert new_peak(Decimal(120_000), Decimal(108_000)) == 120_000
    assert new_peak(None, Decimal(108_000)) == 108_000


def test_limits_off_or_no_reference_never_breach() -> None:
    off = PortfolioLimits()
    assert not off.enabled
    assert find_breach(off, Decimal(1), Decimal(100_000), Decimal(100_000)) is None
    assert find_breach(LIMITS, Decimal(1), None, None) is None
    assert find_breach(LIMITS, Decimal(1), Decimal(0), Decimal(0)) is None


def test_a_tightened_stop_is_rounded_tighter_and_never_looser() -> None:
    long = _position("100", "55.20")
    assert tightened_stop(long, Decimal("70.01"), Decimal("0.02")) == Decimal("68.61")  # 68.6098
    assert tightened_stop(_position("100", "69"), Decimal(70), Decimal("0.02")) is None
    assert tightened_stop(_position("100", None), Decimal(70), Decimal("0.02")) is None
    short = _position("-100", "66")
    assert tightened_stop(short, Decimal("60.01"), Decimal("0.02")) == Decimal("61.21")  # 61.2102
    assert tightened_stop(_position("-100", "61"), Decimal(60), Decimal("0.02")) is None
