"""Stop distances from ATR per cap class, fallbacks, and where market caps come from."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipelines.lib.profiles import (
    cap_class_for,
    load_overrides_file,
    parse_overrides_env,
    resolve_profiles,
)
from pipelines.lib.risk import RiskInputs, RiskParameters, redis_fields, risk_parameters_for
from position_manager.errors import ConfigError
from rules.params import DEFAULT_PARAMS

NOW = datetime(2025, 4, 1, 12, tzinfo=UTC)


def _inputs(**changes: Any) -> RiskInputs:
    base: dict[str, Any] = {
        "symbol": "AAPL", "cap_class": "large", "market_cap": 3.4e12, "profile_source": "sample",
        "avg_entry_price": 100.0, "last_close": 110.0, "atr": 4.0, "atr_pct": 0.036,
        "atr_reason": None, "next_report_date": date(2025, 4, 6),
    }  # fmt: skip
    base.update(changes)
    return RiskInputs(**base)


def _params(**changes: Any) -> RiskParameters:
    return risk_parameters_for(
        _inputs(**changes), DEFAULT_PARAMS, atr_period=14, atr_method="sma", as_of=NOW
    )


def test_large_cap_stop_is_one_and_a_half_atr_over_the_entry_price() -> None:
    rp = _params(atr=8.0)  # 1.5 x 8 / 100 = 12%
    assert (rp.stop_pct, rp.target_pct, rp.stop_method) == (
        Decimal("0.120000"), Decimal("0.240000"), "atr",
    )  # fmt: skip


def test_large_cap_stop_is_clamped_to_eight_percent() -> None:
    assert _params(atr=1.0).stop_pct == Decimal("0.080000")


def test_micro_cap_stop_is_clamped_to_twenty_four_percent_with_three_to_one_target() -> None:
    rp = _params(cap_class="micro", atr=50.0)
    assert (rp.stop_pct, rp.target_pct, rp.trail_pct) == (
        Decimal("0.240000"), Decimal("0.720000"), Decimal("0.09"),
    )  # fmt: skip


def test_no_atr_uses_the_fixed_fallback_and_keeps_the_reason() -> None:
    rp = _params(cap_class="micro", atr=None, atr_reason="needs 15 consecutive clean bars, has 3")
    assert (rp.stop_pct, rp.target_pct, rp.stop_method) == (
        Decimal("0.200000"), Decimal("0.600000"), "fallback",
    )  # fmt: skip
    assert rp.atr_reason == "needs 15 consecutive clean bars, has 3"
    assert redis_fields(rp)["atr"] == ""


def test_a_nan_atr_is_never_used() -> None:
    rp = _params(atr=float("nan"))
    assert rp.stop_method == "fallback" and rp.atr is None


def test_watchlist_symbol_uses_the_last_close_and_no_price_uses_the_fallback() -> None:
    assert _params(avg_entry_price=None).reference_price == 110.0
    rp = _params(avg_entry_price=None, last_close=None)
    assert rp.reference_price is None and rp.stop_method == "fallback"


def test_redis_hash_fields_are_strings_with_iso_dates() -> None:
    fields = redis_fields(_params())
    assert fields["next_report_date"] == "2025-04-06"
    assert fields["as_of"] == NOW.isoformat()
    assert all(isinstance(v, str) for v in fields.values())


def test_micro_cap_is_below_the_threshold() -> None:
    assert cap_class_for(299_999_999, Decimal("300000000")) == "micro"
    assert cap_class_for(300_000_000, Decimal("300000000")) == "large"
    assert cap_class_for(None, Decimal("300000000")) == "large"


def test_an_override_beats_the_sample_and_an_unknown_symbol_is_flagged() -> None:
    profiles = resolve_profiles(
        ["AAPL", "SNDL", "NOPE"],
        threshold=Decimal("300000000"),
        overrides={"AAPL": 1e8},
        client=None,
        now=NOW,
    )
    by_symbol = {p.symbol: p for p in profiles}
    assert (by_symbol["AAPL"].source, by_symbol["AAPL"].cap_class) == ("override", "micro")
    assert (by_symbol["SNDL"].source, by_symbol["SNDL"].cap_class) == ("sample", "micro")
    assert by_symbol["NOPE"].source == "unknown" and by_symbol["NOPE"].note


def test_overrides_from_yaml_and_env(tmp_path: Path) -> None:
    path = tmp_path / "symbol_overrides.yaml"
    path.write_text("market_caps:\n  sndl: 250000000\n  AAPL: 3.4e12\n")
    assert load_overrides_file(path) == {"SNDL": 250_000_000.0, "AAPL": 3.4e12}
    assert load_overrides_file(tmp_path / "missing.yaml") == {}
    assert parse_overrides_env("SNDL=250e6, aapl=1") == {"SNDL": 250e6, "AAPL": 1.0}
    with pytest.raises(ConfigError, match="MARKET_CAP_OVERRIDES"):
        parse_overrides_env("SNDL")
    path.write_text("market_caps:\n  SNDL: -5\n")
    with pytest.raises(ConfigError, match="positive"):
        load_overrides_file(path)
