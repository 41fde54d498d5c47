"""The README is the user's manual: every setting documented, the two commands present."""

from pathlib import Path

from position_manager.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}" not in README]
    assert missing == []


def test_the_two_commands_and_ci_agree() -> None:
    assert "./scripts/run.sh" in README and "./scripts/test.sh" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def _catalogue() -> str:
    start, end = README.index("<!-- events:start -->"), README.index("<!-- events:end -->")
    return README[start:end]


def test_the_event_catalogue_names_every_event_and_stream() -> None:
    from position_manager import events

    catalogue = _catalogue()
    missing = sorted(name for name in events.event_names() if f"`{name}`" not in catalogue)
    streams = [v for k, v in vars(events).items() if k.endswith("_STREAM") and isinstance(v, str)]
    missing += sorted(stream for stream in streams if f"`{stream}`" not in catalogue)
    assert missing == []


def test_the_event_catalogue_lists_the_risk_hash_dead_letter_and_health_fields() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from position_manager import redis_schema

    risk = redis_schema.encode_risk_hash(
        symbol="AAPL", cap_class="large", atr=1.0, atr_period=14, atr_method="sma",
        atr_pct=0.01, reference_price=100.0, stop_pct=Decimal("0.08"),
        target_pct=Decimal("0.16"), trail_pct=Decimal("0.05"), next_report_date=None,
        market_cap=1e12, profile_source="sample", as_of=datetime.now(UTC),
    )  # fmt: skip
    letter = redis_schema.dead_letter_fields("s", "1-0", {f"f{i}": "v" for i in range(20)}, "r")
    health = redis_schema.encode_health(
        positions_count=0, active_stops=0, total_pnl=Decimal(0), last_update=None,
        market_session="CLOSED", active_management=True, redis_connected=True,
        alpaca_connected=True,
    )  # fmt: skip
    catalogue = _catalogue()
    fields = [*risk, *letter, *health]
    assert sorted(f for f in fields if f"`{f}`" not in catalogue) == []
    keys = [v for k, v in vars(redis_schema).items() if k.endswith("_KEY") and isinstance(v, str)]
    assert sorted(k for k in keys if f"`{k.replace('{symbol}', '{SYMBOL}')}" not in catalogue) == []
