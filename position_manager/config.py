"""Settings from the environment, validated once at start.

Every documented variable keeps its name and default; the rules' numbers (ATR multipliers, clamps,
fallbacks, pre-earnings window, alert thresholds) are settings too, so a trader can tune them
without touching code. Percentages are fractions (``0.20`` means 20 %), except
``MIN_STOP_ADJUSTMENT`` which is a price move in dollars.

Bad values fail at start with one message that names the variable (`ConfigError`). Secrets are
`SecretStr`: they never appear in a repr, a log line or an error message. Values come from the
environment, then from a dotenv file (`./.env`, or `PM_ENV_FILE`), then the defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from position_manager.errors import ConfigError
from position_manager.events import alert_events

Fraction = Annotated[Decimal, Field(gt=0, lt=1)]


class BrokerKind(StrEnum):
    """Which broker the system talks to: the embedded simulator or Alpaca itself."""

    SIMULATOR = "simulator"
    ALPACA = "alpaca"


class AtrMethod(StrEnum):
    """SMA of true range is the default method; Wilder's smoothing is the textbook one."""

    SMA = "sma"
    WILDER = "wilder"


class Settings(BaseSettings):
    """All configuration. Construct with `load_settings()` to get the friendly error."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, frozen=True
    )

    # --- Alpaca ---------------------------------------------------------------------------
    alpaca_api_key: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_paper: bool = True
    # Live trading is real money: ALPACA_PAPER=false alone is refused without this second opt-in.
    alpaca_allow_live: bool = False
    alpaca_base_url: str | None = None
    alpaca_data_url: str | None = None
    alpaca_data_feed: Literal["iex", "sip"] = "iex"
    alpaca_rate_limit_per_minute: int = Field(200, gt=0, le=10_000)
    # Share of that budget one process may use on its own while Redis (where the budget is
    # shared) does not answer: several processes may be cut off at once.
    alpaca_rate_limit_fallback_share: Fraction = Decimal("0.25")
    # "auto" picks the simulator when no Alpaca keys are set.
    broker: Literal["auto", "simulator", "alpaca"] = "auto"
    # Where the embedded simulator listens, so the worker and Dagster runs share one.
    simulator_port: int = Field(18765, gt=0, lt=65536)

    # --- Redis ----------------------------------------------------------------------------
    redis_url: SecretStr | None = None
    redis_host: str = "localhost"
    redis_port: int = Field(6379, gt=0, lt=65536)
    redis_password: SecretStr | None = None
    # With no REDIS_URL and nothing listening on REDIS_HOST:REDIS_PORT, start a local server.
    redis_embedded: bool = True
    # CA bundle (PEM) that signs the server's certificate, for REDIS_URL=rediss://...
    redis_ca_cert: Path | None = None

    # --- Alpha Vantage --------------------------------------------------------------------
    alpha_vantage_api_key: SecretStr | None = None
    alpha_vantage_url: str = "https://www.alphavantage.co/query"
    earnings_horizon: Literal["3month", "6month", "12month"] = "3month"
    earnings_cache_ttl: int = Field(86_400, gt=0)
    profile_cache_days: int = Field(7, gt=0)

    # --- Profit-taking and trailing -------------------------------------------------------
    profit_target_1: Decimal = Field(Decimal("0.20"))
    profit_target_2: Decimal = Field(Decimal("0.50"))
    trail_percent_micro: Fraction = Decimal("0.09")
    trail_percent_large: Fraction = Decimal("0.05")
    min_stop_adjustment: Decimal = Field(Decimal("0.10"), ge=0)
    # A fraction of the stop price: the minimum move is the smaller of the two, so a $0.88
    # stock trails (ten cents would be 11 % of its stop, more than its 9 % trail ever moves).
    min_stop_adjustment_pct: Fraction = Decimal("0.005")
    atr_cache_ttl: int = Field(3600, gt=0)
    # Extended-hours exits are limit orders this far through the last price.
    extended_hours_limit_offset: Fraction = Decimal("0.005")
    extended_hours_protection: bool = False

    # --- ATR stops --------------------------------------------------------------------------
    atr_period: int = Field(14, ge=2, le=200)
    atr_method: AtrMethod = AtrMethod.SMA
    atr_multiplier_micro: Decimal = Field(Decimal("2.0"), gt=0)
    atr_multiplier_large: Decimal = Field(Decimal("1.5"), gt=0)
    stop_min_pct_micro: Fraction = Decimal("0.15")
    stop_max_pct_micro: Fraction = Decimal("0.24")
    stop_min_pct_large: Fraction = Decimal("0.08")
    stop_max_pct_large: Fraction = Decimal("0.15")
    reward_risk_micro: Decimal = Field(Decimal("3"), gt=0)
    reward_risk_large: Decimal = Field(Decimal("2"), gt=0)
    fallback_stop_pct_micro: Fraction = Decimal("0.20")
    fallback_target_pct_micro: Decimal = Field(Decimal("0.60"), gt=0)
    fallback_stop_pct_large: Fraction = Decimal("0.12")
    fallback_target_pct_large: Decimal = Field(Decimal("0.24"), gt=0)
    micro_cap_threshold: Decimal = Field(Decimal("300000000"), gt=0)

    # --- Pre-earnings -----------------------------------------------------------------------
    pre_earnings_days: int = Field(7, ge=0, le=60)
    pre_earnings_reduction: Fraction = Decimal("0.5")

    # --- Alerts -----------------------------------------------------------------------------
    large_loss_alert_pct: Decimal = Field(Decimal("-0.15"), lt=0, gt=-1)
    stale_data_seconds: int = Field(300, gt=0)
    pnl_event_interval_seconds: float = Field(5.0, ge=0, allow_inf_nan=False)
    # Where alerts go (apprise URLs, comma or space separated): they carry tokens, so secret.
    alert_urls: SecretStr | None = None
    # One notification per (kind, symbol, cause) in this window; per-kind overrides below.
    alert_throttle_seconds: int = Field(3600, ge=0, le=7 * 86_400)
    alert_throttle_by_kind: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)

    # --- Plausibility -----------------------------------------------------------------------
    quote_confirm_move: Fraction = Decimal("0.10")
    quote_confirm_tolerance: Fraction = Decimal("0.02")
    max_order_notional: Decimal = Field(Decimal("250000"), gt=0)

    # --- Portfolio limits (off unless set) --------------------------------------------------
    # Equity this far under the previous close (Alpaca's last_equity) / under its peak.
    daily_loss_limit_pct: Decimal | None = Field(None, gt=0, lt=1)
    max_drawdown_pct: Decimal | None = Field(None, gt=0, lt=1)
    portfolio_limit_action: Literal["tighten", "flatten"] = "tighten"
    portfolio_tighten_pct: Decimal = Field(Decimal("0.02"), gt=0, lt=1)
    portfolio_check_seconds: int = Field(30, ge=5, le=3600)

    # --- Where things live ------------------------------------------------------------------
    reconcile_every_minutes: int = Field(5, ge=1, le=1440)
    reconcile_off_hours_every_minutes: int = Field(60, ge=1, le=1440)
    # The worker's own catch-up with the broker (missed fills, cancels, replaces) + reconcile.
    worker_reconcile_seconds: int = Field(300, ge=1, le=86_400)
    data_dir: Path = Path("./data")
    watchlist: Annotated[tuple[str, ...], NoDecode] = ()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("watchlist", mode="before")
    @classmethod
    def _split_watchlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(s.strip().upper() for s in value.split(",") if s.strip())
        return value

    @field_validator("alert_urls", mode="after")
    @classmethod
    def _check_alert_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        for number, url in enumerate(split_alert_urls(value.get_secret_value()), start=1):
            if not _ALERT_URL.match(url):
                # Never the entry itself: it may be a token pasted without its scheme.
                raise ValueError(f"entry {number} is not an apprise URL (scheme://...)")
        return value

    @field_validator("alert_throttle_by_kind", mode="before")
    @classmethod
    def _parse_throttle_by_kind(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out: dict[str, int] = {}
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            kind, sep, seconds = item.partition("=")
            if not sep or not seconds.strip().isdigit():
                raise ValueError(f"{item!r} is not KIND=SECONDS, e.g. large_loss=7200")
            name = kind.strip().lower().removeprefix("alert.")
            known = sorted(e.removeprefix("alert.") for e in alert_events())
            if name not in known:
                raise ValueError(f"unknown alert kind {name!r} (one of {', '.join(known)})")
            out[name] = int(seconds)
        return out

    @field_validator("profit_target_1", "profit_target_2")
    @classmethod
    def _positive_target(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError("must be a positive fraction, e.g. 0.20 for +20%")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.profit_target_2 <= self.profit_target_1:
            raise ValueError(
                f"PROFIT_TARGET_2 ({self.profit_target_2}) must be above "
                f"PROFIT_TARGET_1 ({self.profit_target_1})"
            )
        for cls_name in ("micro", "large"):
            low = getattr(self, f"stop_min_pct_{cls_name}")
            high = getattr(self, f"stop_max_pct_{cls_name}")
            if low > high:
                raise ValueError(
                    f"STOP_MIN_PCT_{cls_name.upper()} ({low}) must not exceed "
                    f"STOP_MAX_PCT_{cls_name.upper()} ({high})"
                )
        if not self.alpaca_paper and not self.alpaca_allow_live:
            raise ValueError(
                "ALPACA_PAPER=false trades real money: also set ALPACA_ALLOW_LIVE=true to confirm"
            )
        if self.broker == "alpaca" and not self.has_alpaca_keys:
            raise ValueError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        if self.redis_ca_cert is not None and not (
            self.redis_url is not None
            and self.redis_url.get_secret_value().lower().startswith("rediss://")
        ):
            raise ValueError("REDIS_CA_CERT is for TLS: it needs a rediss:// REDIS_URL")
        if (self.alpaca_api_key is None) != (self.alpaca_secret_key is None):
            raise ValueError("set both ALPACA_API_KEY and ALPACA_SECRET_KEY, or neither")
        return self

    @property
    def has_alpaca_keys(self) -> bool:
        return self.alpaca_api_key is not None and self.alpaca_secret_key is not None

    @property
    def broker_kind(self) -> BrokerKind:
        """The simulator unless Alpaca keys are present (or BROKER says otherwise)."""
        if self.broker == "auto":
            return BrokerKind.ALPACA if self.has_alpaca_keys else BrokerKind.SIMULATOR
        return BrokerKind(self.broker)

    @property
    def alert_url_list(self) -> tuple[str, ...]:
        """ALERT_URLS split into its URLs (empty: alerts stay in Redis and DuckDB)."""
        if self.alert_urls is None:
            return ()
        return split_alert_urls(self.alert_urls.get_secret_value())

    def alert_throttle_for(self, kind: str) -> int:
        """The de-duplication window of one alert kind (`large_loss` or `alert.large_loss`)."""
        name = kind.removeprefix("alert.")
        return self.alert_throttle_by_kind.get(name, self.alert_throttle_seconds)

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def trail_percent(self, micro_cap: bool) -> Decimal:
        return self.trail_percent_micro if micro_cap else self.trail_percent_large


# scheme://anything: what apprise needs to pick a service (the rest is the service's business).
_ALERT_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def split_alert_urls(value: str) -> tuple[str, ...]:
    """ALERT_URLS is comma and/or whitespace separated (an apprise URL has neither)."""
    return tuple(part for part in re.split(r"[\s,]+", value) if part)


# A dotenv file of settings: ./.env unless PM_ENV_FILE names another one (empty: none). The
# environment wins over it; the test suite sets PM_ENV_FILE="" so no developer's .env (keys!)
# reaches a test or the processes it starts.
ENV_FILE_VARIABLE: Final = "PM_ENV_FILE"
DEFAULT_ENV_FILE: Final = ".env"


class SettingSource(StrEnum):
    """Where a setting's value came from (`position-manager config` shows it)."""

    DEFAULT = "default"
    ENVIRONMENT = "environment"
    ENV_FILE = ".env file"
    ARGUMENT = "argument"


def env_file_path() -> Path | None:
    """The dotenv file settings are read from (it need not exist); None when disabled."""
    raw = os.environ.get(ENV_FILE_VARIABLE, DEFAULT_ENV_FILE)
    return Path(raw) if raw else None


def setting_sources(overrides: Mapping[str, Any] | None = None) -> dict[str, SettingSource]:
    """For each setting, where `load_settings(**overrides)` takes its value from, by the same
    precedence pydantic-settings applies: arguments, then the environment (names
    case-insensitive), then the dotenv file, then the default."""
    from dotenv import dotenv_values

    in_environment = {name.lower() for name in os.environ}
    env_file = env_file_path()
    in_file = (
        {name.lower() for name in dotenv_values(env_file)}
        if env_file is not None and env_file.is_file()
        else set()
    )
    sources: dict[str, SettingSource] = {}
    for name in Settings.model_fields:
        if overrides and name in overrides:
            sources[name] = SettingSource.ARGUMENT
        elif name in in_environment:
            sources[name] = SettingSource.ENVIRONMENT
        elif name in in_file:
            sources[name] = SettingSource.ENV_FILE
        else:
            sources[name] = SettingSource.DEFAULT
    return sources


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and the dotenv file (plus explicit overrides) and fail with one
    clear message."""
    arguments: dict[str, Any] = {"_env_file": env_file_path(), **overrides}
    try:
        return Settings(**arguments)
    except ValidationError as exc:
        message = _describe(exc)
    # Raised outside the handler: pydantic's error (its text shows the start of every input,
    # secrets first) must not ride along as `__context__`.
    raise ConfigError(message)


def _describe(exc: ValidationError) -> str:
    """One line per bad variable, upper-case as the user typed it, never echoing secrets."""
    lines = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = str(loc[0]).upper() if loc else ""
        message = err.get("msg", "invalid value").removeprefix("Value error, ")
        if name:
            shown = ""
            if (
                "secret" not in name.lower()
                and "key" not in name.lower()
                and "password" not in name.lower()
                and "url" not in name.lower()
            ):
                raw = err.get("input")
                if isinstance(raw, str | int | float | Decimal):
                    shown = f"={raw!s}"
            lines.append(f"{name}{shown}: {message}")
        else:
            lines.append(message)
    return "invalid configuration: " + "; ".join(lines)
