from decimal import Decimal

import pytest

from position_manager.config import BrokerKind, load_settings
from position_manager.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ALPACA_API_KEY",
        "ALPACA_SECRET_KEY",
        "ALPACA_PAPER",
        "REDIS_URL",
        "PROFIT_TARGET_1",
        "PROFIT_TARGET_2",
        "BROKER",
        "ALPACA_ALLOW_LIVE",
        "ALERT_URLS",
        "ALERT_THROTTLE_SECONDS",
        "ALERT_THROTTLE_BY_KIND",
    ):
        monkeypatch.delenv(name, raising=False)


def test_seed_defaults() -> None:
    s = load_settings()
    assert s.alpaca_paper is True
    assert (s.profit_target_1, s.profit_target_2) == (Decimal("0.20"), Decimal("0.50"))
    assert (s.trail_percent_micro, s.trail_percent_large) == (Decimal("0.09"), Decimal("0.05"))
    assert s.min_stop_adjustment == Decimal("0.10")
    assert s.min_stop_adjustment_pct == Decimal("0.005")
    assert (s.atr_cache_ttl, s.atr_period, s.pre_earnings_days) == (3600, 14, 7)
    assert (s.redis_host, s.redis_port) == ("localhost", 6379)
    assert s.broker_kind is BrokerKind.SIMULATOR


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFIT_TARGET_1", "0.25")
    monkeypatch.setenv("WATCHLIST", "aapl, msft,,")
    s = load_settings()
    assert s.profit_target_1 == Decimal("0.25")
    assert s.watchlist == ("AAPL", "MSFT")


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("PROFIT_TARGET_1", "-0.1", "PROFIT_TARGET_1=-0.1"),
        ("PROFIT_TARGET_2", "0.1", "PROFIT_TARGET_2 (0.1) must be above PROFIT_TARGET_1"),
        ("TRAIL_PERCENT_MICRO", "1.5", "TRAIL_PERCENT_MICRO=1.5"),
        ("MIN_STOP_ADJUSTMENT", "ten cents", "MIN_STOP_ADJUSTMENT"),
        ("MIN_STOP_ADJUSTMENT_PCT", "0", "MIN_STOP_ADJUSTMENT_PCT=0"),
        ("MIN_STOP_ADJUSTMENT_PCT", "5", "MIN_STOP_ADJUSTMENT_PCT=5"),
        ("REDIS_PORT", "99999", "REDIS_PORT"),
        ("ATR_PERIOD", "abc", "ATR_PERIOD"),
        ("PROFIT_TARGET_1", "nan", "PROFIT_TARGET_1"),
        # found by tests/fuzz: an infinite interval was accepted (no P&L event ever again)
        ("PNL_EVENT_INTERVAL_SECONDS", "inf", "PNL_EVENT_INTERVAL_SECONDS=inf"),
    ],
)
def test_bad_values_fail_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match="invalid configuration") as exc:
        load_settings()
    assert expected in str(exc.value)


def test_live_trading_needs_a_second_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_PAPER", "false")
    with pytest.raises(ConfigError, match="ALPACA_ALLOW_LIVE"):
        load_settings()
    monkeypatch.setenv("ALPACA_ALLOW_LIVE", "true")
    assert load_settings().alpaca_paper is False


def test_keys_select_alpaca_and_never_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKSECRETKEYID123")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "supersecretvalue987")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@host:6379/0")
    s = load_settings()
    assert s.broker_kind is BrokerKind.ALPACA
    for text in (repr(s), str(s), str(s.model_dump())):
        assert "supersecretvalue987" not in text and "PKSECRETKEYID123" not in text
        assert "hunter2" not in text


def test_secret_never_appears_in_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKSECRETKEYID123")  # secret key missing
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "PKSECRETKEYID123" not in str(exc.value)
    assert "ALPACA_SECRET_KEY" in str(exc.value)


def test_alert_urls_split_on_commas_and_spaces_and_stay_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERT_URLS", "json://127.0.0.1:9/h, tgram://123:ABCtok/42\n slack://a/b/c")
    s = load_settings()
    assert s.alert_url_list == ("json://127.0.0.1:9/h", "tgram://123:ABCtok/42", "slack://a/b/c")
    assert "ABCtok" not in repr(s) and "ABCtok" not in str(s.model_dump())


def test_an_alert_url_without_a_scheme_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERT_URLS", "json://127.0.0.1:9/h,xoxb-SECRET-TOKEN")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "ALERT_URLS" in str(err.value) and "entry 2" in str(err.value)
    assert "SECRET" not in str(err.value)


def test_alert_throttle_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_THROTTLE_SECONDS", "600")
    monkeypatch.setenv("ALERT_THROTTLE_BY_KIND", "large_loss=7200, alert.stale_data=0")
    s = load_settings()
    assert s.alert_throttle_for("alert.large_loss") == 7200
    assert s.alert_throttle_for("stale_data") == 0  # every occurrence is sent
    assert s.alert_throttle_for("alert.worker_down") == 600
    monkeypatch.setenv("ALERT_THROTTLE_BY_KIND", "large_lose=60")
    with pytest.raises(ConfigError, match="unknown alert kind 'large_lose'"):
        load_settings()
