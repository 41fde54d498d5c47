"""Deterministic client order ids: (position, action, level) -> the same id every time, and the
parsing that reads an exit's reason and report date back out of its id (after a crash).

A retry after a timeout, or a restart after a crash, re-sends the same id; Alpaca refuses a used
id (even a cancelled order's), so the same decision can never become two orders. Ids stay well
under Alpaca's 128-character limit.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from rules.decisions import ExitReason
from rules.model import Side

MAX_LENGTH = 128


def make_position_key(symbol: str, side: Side, opened_token: str) -> str:
    """A stable name for one position: symbol, side and a short hash of what opened it.

    `opened_token` is the entry order's client id when we opened it, otherwise the broker's
    average entry price: both survive a restart, so the key does too.
    """
    digest = hashlib.sha1(f"{symbol}|{side}|{opened_token}".encode()).hexdigest()[:10]
    return f"{symbol}-{side.value[0]}-{digest}"


def _num(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", "p")


def _checked(order_id: str) -> str:
    if len(order_id) > MAX_LENGTH:
        raise ValueError(f"client order id over {MAX_LENGTH} characters: {order_id}")
    return order_id


_EARNINGS_MARKER = "-earn-"
_PROFIT_LEVEL = re.compile(r"-tp([12])(?:-r\d+)?$")
_BREACH_MARKER = "-breach-"
_FLATTEN_MARKER = "-flat-"


def placed_for(client_order_id: str, position_key: str) -> bool:
    """Whether an order's client id is one of this position's own (a stop, replace or exit)."""
    return client_order_id.startswith(f"pm-{position_key}-")


def entry_order_id(approval_id: str) -> str:
    return _checked(f"pm-entry-{approval_id}")


def stop_order_id(position_key: str, generation: int) -> str:
    """A fresh protective stop. The generation moves on only when a stop had to be re-placed."""
    return _checked(f"pm-{position_key}-stop-g{generation}")


def replace_order_id(
    position_key: str, replaced_order_id: str, qty: Decimal, stop_price: Decimal
) -> str:
    """A replace of one particular order to (qty, stop): a retry of the same replace re-sends the
    same id, while a later replace (of the new order) gets a new one — even when a position that
    grew and shrank comes back to an earlier (qty, stop) pair."""
    ref = hashlib.sha1(replaced_order_id.encode()).hexdigest()[:8]
    return _checked(f"pm-{position_key}-rp{ref}-{_num(qty)}-{_num(stop_price)}")


def _rearmed(generation: int) -> str:
    """Generation 0 keeps the original id; a re-armed exit (its predecessor died unfilled) gets
    `-r<n>`, since the broker refuses a used id forever."""
    return f"-r{generation}" if generation > 0 else ""


def profit_order_id(position_key: str, level: int, generation: int = 0) -> str:
    return _checked(f"pm-{position_key}-tp{level}{_rearmed(generation)}")


def earnings_order_id(position_key: str, report_date: date, generation: int = 0) -> str:
    return _checked(
        f"pm-{position_key}{_EARNINGS_MARKER}{report_date:%Y%m%d}{_rearmed(generation)}"
    )


def emergency_exit_order_id(position_key: str, stop_price: Decimal, generation: int = 0) -> str:
    return _checked(f"pm-{position_key}{_BREACH_MARKER}{_num(stop_price)}{_rearmed(generation)}")


def flatten_order_id(position_key: str, day: date, generation: int = 0) -> str:
    """The whole position closed on a portfolio limit or `flatten` (once per session date)."""
    return _checked(f"pm-{position_key}{_FLATTEN_MARKER}{day:%Y%m%d}{_rearmed(generation)}")


# --- parsing (the inverse of the formats above) ------------------------------------------------
def exit_reason_of(client_order_id: str) -> ExitReason | None:
    """Which exit an id names (profit level, earnings cut, stop breach); None for other ids."""
    level = _PROFIT_LEVEL.search(client_order_id)
    if level is not None:
        return "profit_target_1" if level.group(1) == "1" else "profit_target_2"
    if _EARNINGS_MARKER in client_order_id:
        return "pre_earnings"
    if _BREACH_MARKER in client_order_id:
        return "stop_breach"
    if _FLATTEN_MARKER in client_order_id:
        return "flatten"
    return None


def report_date_of(client_order_id: str) -> date | None:
    """The report date encoded in an earnings exit's client order id (pm-...-earn-YYYYMMDD)."""
    if _EARNINGS_MARKER not in client_order_id:
        return None
    tail = client_order_id.rsplit(_EARNINGS_MARKER, 1)[1]
    try:
        return date(int(tail[:4]), int(tail[4:6]), int(tail[6:8]))
    except ValueError:
        return None
