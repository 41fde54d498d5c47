"""Market capitalisation and cap class per symbol, from overrides, Alpha Vantage or the sample.

Precedence: a per-symbol override (config, env or YAML) always wins; then Alpha Vantage OVERVIEW
(cached for days, because the free tier allows 25 requests a day for everything); with no API key,
the deterministic sample universe (flagged `source="sample"`). A symbol nobody knows keeps a row,
flagged `source="unknown"` and treated as large-cap (an unknown profile is most often an ETF, which
OVERVIEW does not cover) — an override fixes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import yaml

from pipelines.lib.alpha_vantage import (
    AlphaVantageClient,
    AlphaVantageError,
    AlphaVantageRateLimitError,
    AlphaVantageUnknownSymbolError,
)
from position_manager.errors import ConfigError
from position_manager.sample_data import SAMPLE_BY_SYMBOL

logger = logging.getLogger(__name__)

MICRO = "micro"
LARGE = "large"


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    symbol: str
    name: str | None
    market_cap: float | None
    cap_class: str  # "micro" | "large"
    source: str  # "override" | "alpha_vantage" | "cache" | "sample" | "unknown" | "unavailable"
    note: str | None
    fetched_at: datetime | None


def cap_class_for(market_cap: float | None, threshold: Decimal | float) -> str:
    """Micro below the threshold (default $300M); unknown market caps count as large."""
    if market_cap is None:
        return LARGE
    return MICRO if market_cap < float(threshold) else LARGE


def parse_overrides_env(text: str) -> dict[str, float]:
    """`MARKET_CAP_OVERRIDES="SNDL=250e6,AAPL=3.4e12"` -> {"SNDL": 250000000.0, ...}."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        symbol, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            result[symbol.strip().upper()] = _positive(float(value))
        except ValueError:
            raise ConfigError(
                f"MARKET_CAP_OVERRIDES: {item!r} is not SYMBOL=dollars (e.g. SNDL=250e6)"
            ) from None
    return result


def load_overrides_file(path: Path) -> dict[str, float]:
    """A small YAML file: `market_caps: {SNDL: 250000000, ...}`. A missing file means none."""
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        caps = loaded.get("market_caps", {}) if isinstance(loaded, dict) else None
        if not isinstance(caps, dict):
            raise ValueError("expected a mapping under `market_caps`")
        return {str(k).upper(): _positive(float(v)) for k, v in caps.items()}
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise ConfigError(f"market cap overrides file {path}: {exc}") from None


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("market cap must be a positive number of dollars")
    return value


def resolve_profiles(
    symbols: Iterable[str],
    *,
    threshold: Decimal | float,
    overrides: Mapping[str, float],
    client: AlphaVantageClient | None,
    now: datetime,
) -> list[SymbolProfile]:
    """One profile per symbol, never raising for a single symbol: failures become flagged rows.

    After the first rate-limit note no further OVERVIEW request is sent in this run (each one
    would spend the same exhausted budget); those symbols fall back to a stale cache if any.
    """
    profiles: list[SymbolProfile] = []
    budget_spent: str | None = None
    for symbol in sorted(set(symbols)):
        if symbol in overrides:
            cap = overrides[symbol]
            profiles.append(
                SymbolProfile(
                    symbol, None, cap, cap_class_for(cap, threshold), "override", None, now
                )
            )
            continue
        if client is None:
            profiles.append(_sample_profile(symbol, threshold, now))
            continue
        if budget_spent is not None:
            profiles.append(_stale_or_unavailable(client, symbol, threshold, budget_spent))
            continue
        try:
            overview = client.overview(symbol)
        except AlphaVantageUnknownSymbolError as exc:
            profiles.append(SymbolProfile(symbol, None, None, LARGE, "unknown", str(exc), now))
            continue
        except AlphaVantageRateLimitError as exc:
            budget_spent = str(exc)
            logger.warning("alpha_vantage_rate_limited symbol=%s", symbol)
            profiles.append(_stale_or_unavailable(client, symbol, threshold, budget_spent))
            continue
        except AlphaVantageError as exc:
            profiles.append(_stale_or_unavailable(client, symbol, threshold, str(exc)))
            continue
        note = None if overview.market_cap is not None else "Alpha Vantage reports no market cap"
        profiles.append(
            SymbolProfile(
                symbol,
                overview.name,
                overview.market_cap,
                cap_class_for(overview.market_cap, threshold),
                "cache" if overview.from_cache else "alpha_vantage",
                note,
                overview.fetched_at,
            )
        )
    return profiles


def _sample_profile(symbol: str, threshold: Decimal | float, now: datetime) -> SymbolProfile:
    spec = SAMPLE_BY_SYMBOL.get(symbol)
    if spec is None:
        return SymbolProfile(
            symbol,
            None,
            None,
            LARGE,
            "unknown",
            "no ALPHA_VANTAGE_API_KEY and not in the sample universe: add a market cap override",
            now,
        )
    cap = float(spec.market_cap)
    return SymbolProfile(symbol, spec.name, cap, cap_class_for(cap, threshold), "sample", None, now)


def _stale_or_unavailable(
    client: AlphaVantageClient, symbol: str, threshold: Decimal | float, reason: str
) -> SymbolProfile:
    try:
        stale = client.stale_overview(symbol)
    except AlphaVantageError:
        stale = None
    if stale is not None:
        return SymbolProfile(
            symbol,
            stale.name,
            stale.market_cap,
            cap_class_for(stale.market_cap, threshold),
            "cache",
            f"stale cache used: {reason}",
            stale.fetched_at,
        )
    return SymbolProfile(symbol, None, None, LARGE, "unavailable", reason, None)
