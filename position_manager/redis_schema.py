"""Every Redis key and hash field the project uses, and the codecs for the hashes that one
process writes and another reads.

Writers and readers live in different processes (the pipeline publishes risk parameters, the
worker reads them; the worker writes its heartbeat and health, jobs and `status` read them), so
the names and formats are kept in this one module: a field renamed here is renamed for both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any, Final, cast

from position_manager.cap_class import CapClass
from position_manager.wire import printable

# --- Keys -----------------------------------------------------------------------------------
RISK_PARAMS_KEY: Final = "pm:risk:{symbol}"  # hash published by the risk_parameters asset
POSITION_STATE_KEY: Final = "pm:position:{symbol}"  # state the broker does not hold
WORKER_HEARTBEAT_KEY: Final = "pm:worker:heartbeat"
WORKER_HEALTH_KEY: Final = "pm:worker:health"
WORKER_DOWN_ALERT_KEY: Final = "pm:alert:worker_down"  # one worker-down alert per interval
# One notification per (kind, symbol, cause) per window, across every notifier process: the key
# holds the alerts-stream id of the alert that was sent, and expires with the window.
ALERT_SENT_KEY: Final = "pm:alert:sent:{digest}"
# The consumer group of the notifiers (worker thread, `position-manager notify`) on the alerts.
NOTIFIER_GROUP: Final = "pm-notifier"
SYMBOL_LEASE_KEY: Final = "pm:lease:{symbol}"  # one party changes a symbol's orders at a time
SESSION_KEY: Final = "pm:market:session"
# The broker's clock as last read (broker time, host time, rate): events are stamped from it.
BROKER_CLOCK_KEY: Final = "pm:broker:clock"
# Portfolio limits (streaming/portfolio_guard.py): the highest equity seen, a limit acted on
# (once per session date and kind), a flatten in progress ({"cause", "day"}).
PORTFOLIO_PEAK_KEY: Final = "pm:portfolio:peak"
PORTFOLIO_LIMIT_KEY: Final = "pm:portfolio:limit:{day}:{kind}"
FLATTEN_KEY: Final = "pm:portfolio:flatten"
# The simulated market's clock (simulator.market), so the next `up` resumes after it, never back.
SIM_MARKET_CLOCK_KEY: Final = "pm:sim:market_clock"
# stream -> last stream id committed to DuckDB: how the history sensor knows it is behind.
HISTORY_INGESTED_KEY: Final = "pm:history:ingested"
# order id -> what of the order the book has applied (book.applied): nothing is applied twice.
APPLIED_ORDERS_KEY: Final = "pm:book:applied_orders"
# Catching up with the broker (book.catchup): a hash of two broker times, `caught_up_to` (the
# cursor) and `ledger_since` (from when the applied-order ledger knows every change applied).
CATCH_UP_KEY: Final = "pm:book:catch_up"
# One broker request budget per API key, shared by every process (broker.shared_rate_limit):
# a sorted set of request times (Redis TIME, microseconds), and a key that exists while the
# broker said "nothing left until Reset". {budget} is a hash of the key, never the key.
RATE_BUDGET_KEY: Final = "pm:ratelimit:{budget}"
RATE_BUDGET_BLOCK_KEY: Final = "pm:ratelimit:{budget}:blocked"

# --- Fields of the position-state hash that other processes read -----------------------------
STATE_EARNINGS_REDUCED_FOR: Final = "earnings_reduced_for"
# Where the live stop's level came from: "atr", "fallback" (no usable ATR when it was placed),
# "trailed", or "" when not known (a stop adopted from the broker).
STATE_STOP_BASIS: Final = "stop_basis"
STOP_BASES: Final = frozenset({"atr", "fallback", "trailed"})


def state_key(symbol: str) -> str:
    return POSITION_STATE_KEY.format(symbol=symbol)


def risk_key(symbol: str) -> str:
    return RISK_PARAMS_KEY.format(symbol=symbol)


def alert_sent_key(digest: str) -> str:
    return ALERT_SENT_KEY.format(digest=digest)


def rate_budget_keys(budget: str) -> tuple[str, str]:
    """The window and the broker-block keys of one shared request budget."""
    return RATE_BUDGET_KEY.format(budget=budget), RATE_BUDGET_BLOCK_KEY.format(budget=budget)


# --- Text -----------------------------------------------------------------------------------
def text(value: Any) -> str:
    """redis-py answers bytes unless told otherwise; everything we store is UTF-8 text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def text_or_none(value: Any) -> str | None:
    """A reply as text, with a missing reply (None) and an empty string both read as None."""
    if value is None:
        return None
    return text(value) or None


def text_fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in raw.items()}


def redis_fields(fields: Mapping[str, str]) -> dict[Any, Any]:
    """Our string fields typed as redis-py wants a mapping (its key type is a wide union); no
    copy, since this is on the worker's commit path."""
    return cast(dict[Any, Any], fields)


# --- The risk-parameter hash (pipeline -> position service) ---------------------------------
@dataclass(frozen=True, slots=True)
class RiskParams:
    """What the position service needs from the hash: the ATR (initial stop), the cap class
    (which clamps and trail apply) and the next report date (pre-earnings reduction)."""

    symbol: str
    atr: Decimal | None = None
    cap_class: CapClass = CapClass.LARGE
    next_report_date: date | None = None
    found: bool = False
    atr_reason: str | None = None  # why there is no ATR (the pipeline's words), when there is none

    def missing_atr_reason(self) -> str:
        """Why a stop for this symbol cannot be sized from an ATR, in words for an alert."""
        if not self.found:
            return "no risk parameters published yet (the risk refresh has not run for it)"
        return self.atr_reason or "no ATR in its risk parameters"


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def encode_risk_hash(
    *,
    symbol: str,
    cap_class: str,
    atr: float | None,
    atr_period: int,
    atr_method: str,
    atr_pct: float | None,
    reference_price: float | None,
    stop_pct: Decimal,
    target_pct: Decimal,
    trail_pct: Decimal,
    next_report_date: date | None,
    market_cap: float | None,
    profile_source: str,
    as_of: datetime,
    atr_reason: str | None = None,
) -> dict[str, str]:
    """The hash at RISK_PARAMS_KEY: string fields, "" for unknown. `atr_reason` says why there
    is no ATR (the worker quotes it in `alert.fallback_stop`)."""
    return {
        "symbol": symbol,
        "cap_class": cap_class,
        "atr": _num(atr),
        "atr_period": str(atr_period),
        "atr_method": atr_method,
        "atr_pct": _num(atr_pct),
        "atr_reason": printable(atr_reason or "", 200),
        "reference_price": _num(reference_price, 4),
        "stop_pct": str(stop_pct),
        "target_pct": str(target_pct),
        "trail_pct": str(trail_pct),
        "next_report_date": next_report_date.isoformat() if next_report_date else "",
        "market_cap": _num(market_cap, 0),
        "profile_source": profile_source,
        "as_of": as_of.isoformat(),
    }


def decode_risk_hash(symbol: str, raw: Mapping[Any, Any]) -> RiskParams:
    """A missing or partly broken hash falls back to "no ATR, large cap, no report date": the
    rules then use the fixed fallback stop, which is safe, rather than no stop at all."""
    h = text_fields(raw)
    if not h:
        return RiskParams(symbol)
    atr: Decimal | None
    try:
        atr = Decimal(h["atr"]) if h.get("atr") else None
    except InvalidOperation:
        atr = None
    if atr is not None and (not atr.is_finite() or atr <= 0):
        atr = None
    try:
        cap_class = CapClass(h.get("cap_class", "large").lower())
    except ValueError:
        cap_class = CapClass.LARGE
    reason = None if atr is not None else (printable(h.get("atr_reason", ""), 200) or None)
    return RiskParams(symbol, atr, cap_class, risk_report_date(h), found=True, atr_reason=reason)


def risk_report_date(fields: Mapping[str, str]) -> date | None:
    """The hash's next report date (an ISO date, possibly with a time), None when unusable."""
    raw = fields.get("next_report_date")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def risk_as_of(fields: Mapping[str, str]) -> datetime | None:
    """When the pipeline computed the hash; None when the stamp is missing or unreadable."""
    try:
        return datetime.fromisoformat(fields.get("as_of", ""))
    except ValueError:
        return None


# --- Heartbeat and health (worker -> jobs, status) ------------------------------------------
def heartbeat_value(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat()


def decode_heartbeat(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(text(raw))
    except ValueError:
        return None


def encode_health(
    *,
    positions_count: int,
    active_stops: int,
    total_pnl: Decimal,
    last_update: datetime | None,
    market_session: str,
    active_management: bool,
    redis_connected: bool,
    alpaca_connected: bool,
    status: str = "healthy",
    stale_symbols: tuple[str, ...] = (),
    started_at: datetime | None = None,
) -> dict[str, str]:
    """The health-check fields, as strings for the WORKER_HEALTH_KEY hash. `status` is
    "healthy", "stale" (`stale_symbols`: held, no quote in the regular session beyond
    STALE_DATA_SECONDS) or "stopped"."""
    return {
        "status": status,
        "positions_count": str(positions_count),
        "active_stops": str(active_stops),
        "total_pnl": str(total_pnl),
        "last_update": last_update.isoformat() if last_update else "",
        "market_session": market_session,
        "active_management": "true" if active_management else "false",
        "redis_connected": "true" if redis_connected else "false",
        "alpaca_connected": "true" if alpaca_connected else "false",
        "stale_symbols": ",".join(stale_symbols),
        "started_at": started_at.isoformat() if started_at else "",
        "updated_at": datetime.now(UTC).isoformat(),
    }


# --- Dead letters ---------------------------------------------------------------------------
DEAD_LETTER_REASON_CHARS: Final = 500
DEAD_LETTER_FIELDS: Final = 16  # the first fields of the message are kept, the rest counted
DEAD_LETTER_NAME_CHARS: Final = 64
DEAD_LETTER_VALUE_CHARS: Final = 4096  # of each value; a 1 MB payload keeps its first 4 KiB


def dead_letter_fields(
    stream: str,
    message_id: Any,
    fields: Mapping[Any, Any],
    reason: str,
    *,
    consumer: str = "worker",
) -> dict[str, str]:
    """What a dead letter holds: where it came from, who refused it, why, and the original
    fields. Total, because it is written for messages that could not be read: names and values
    are escaped (bytes that are not UTF-8 as ``\\xff``) and cut to a bounded size, so the dead
    letter itself can always be written (a dead letter that raises would crash-loop)."""
    kept: dict[str, str] = {}
    for name, value in islice(fields.items(), DEAD_LETTER_FIELDS):
        kept[printable(name, DEAD_LETTER_NAME_CHARS)] = printable(value, DEAD_LETTER_VALUE_CHARS)
    out = {
        "source_stream": printable(stream, DEAD_LETTER_NAME_CHARS),
        "source_id": printable(message_id, DEAD_LETTER_NAME_CHARS),
        "consumer": consumer,
        "reason": printable(reason, DEAD_LETTER_REASON_CHARS),
        "fields": json.dumps(kept, separators=(",", ":")),
    }
    if len(fields) > DEAD_LETTER_FIELDS:
        out["fields_dropped"] = str(len(fields) - DEAD_LETTER_FIELDS)
    return out
