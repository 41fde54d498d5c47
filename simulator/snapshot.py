"""The simulator book's JSON snapshot: written atomically, read back at start.

The snapshot is written atomically (temp file + rename), so a crash mid-write leaves the previous
snapshot intact, and read back at start: a long demo can be stopped and resumed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.state import SimBook, SimFill, SimOrder, SimPosition, SimQuote

SNAPSHOT_VERSION = 1

_DECIMALS = {
    "qty",
    "cum_qty",
    "leaves_qty",
    "price",
    "filled_qty",
    "filled_avg_price",
    "limit_price",
    "stop_price",
    "trail_percent",
    "trail_price",
    "hwm",
    "avg_entry_price",
    "lastday_price",
    "bid",
    "ask",
    "last",
    "cash",
}
_DATETIMES = {
    "created_at",
    "updated_at",
    "submitted_at",
    "expires_at",
    "filled_at",
    "canceled_at",
    "expired_at",
    "replaced_at",
    "failed_at",
    "timestamp",
    "last_order_ts",
    "transaction_time",
}


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot snapshot {type(value).__name__}")


def _decode_fields(cls: type, raw: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            continue
        if value is not None and key in _DECIMALS:
            value = Decimal(value)
        elif value is not None and key in _DATETIMES:
            value = datetime.fromisoformat(value)
        values[key] = value
    return cls(**values)


def book_to_json(book: SimBook) -> str:
    return json.dumps({"version": SNAPSHOT_VERSION, **asdict(book)}, default=_encode)


def book_from_json(text: str) -> SimBook:
    raw = json.loads(text)
    if raw.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unsupported simulator snapshot version {raw.get('version')!r}")
    return SimBook(
        account_id=raw["account_id"],
        account_number=raw["account_number"],
        cash=Decimal(raw["cash"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        orders={k: _decode_fields(SimOrder, v) for k, v in raw["orders"].items()},
        client_ids=dict(raw["client_ids"]),
        positions={k: _decode_fields(SimPosition, v) for k, v in raw["positions"].items()},
        quotes={k: _decode_fields(SimQuote, v) for k, v in raw["quotes"].items()},
        last_order_ts=(
            datetime.fromisoformat(raw["last_order_ts"]) if raw.get("last_order_ts") else None
        ),
        fills=[_decode_fields(SimFill, v) for v in raw.get("fills") or ()],
        equity_date=raw.get("equity_date"),
        equity_on_date=_decimal_or_none(raw.get("equity_on_date")),
        last_equity=_decimal_or_none(raw.get("last_equity")),
    )


def _decimal_or_none(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old snapshot or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(path: Path) -> SimBook | None:
    if not path.exists():
        return None
    return book_from_json(path.read_text())
