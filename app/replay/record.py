"""A replay's events into the warehouse, under its run id, apart from the live history.

Everything the replay's worker and broker wrote to its own Redis (position.*, order.*, alert.*,
session changes) becomes `replay_events` rows in stream-then-id order; `replay_runs` holds what
was replayed, with which settings, and its score. `decisions` is the comparable core of a run:
what the worker decided and what the broker filled, without the ids and host times that differ
from run to run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import duckdb
import polars as pl
import redis

from position_manager import events, redis_schema
from warehouse.frames import insert_frame
from warehouse.tables import REPLAY_EVENTS, REPLAY_RUNS

RECORDED_STREAMS = (
    events.POSITIONS_STREAM,
    events.ORDERS_STREAM,
    events.ALERTS_STREAM,
    events.SESSION_STREAM,
)
# Ids the broker or the process makes up, and host times: they differ between two runs that
# decided the same things.
VOLATILE_FIELDS = frozenset(
    {"order_id", "stop_order_id", "replaced_by", "replaces", "position_key", "timestamp",
     "as_of", "id"}
)  # fmt: skip
# A client order id's random parts (the position key, a replaced order's id digest).
_RANDOM_PART = re.compile(r"[0-9a-f]{8,}")
# Throttled by the host's clock, not decisions.
NOT_DECISIONS = frozenset({events.POSITION_PNL_UPDATED})


def read_streams(client: redis.Redis) -> list[tuple[str, str, events.Event]]:
    """(stream, stream id, event) of every recorded stream, in stream order."""
    out = []
    for stream in RECORDED_STREAMS:
        last = "-"
        while True:
            batch = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                client.xrange(stream, min=last, max="+", count=5000),
            )
            if last != "-":
                batch = batch[1:]
            if not batch:
                break
            for entry_id, fields in batch:
                try:
                    event = events.decode_event(fields)
                except Exception:
                    continue
                out.append((stream, redis_schema.text(entry_id), event))
            last = redis_schema.text(batch[-1][0])
    return out


def event_rows(run_id: str, recorded: Sequence[tuple[str, str, events.Event]]) -> pl.DataFrame:
    ordered = sorted(recorded, key=lambda r: (r[2].ts, r[0], r[1]))
    return pl.DataFrame(
        {
            "run_id": [run_id] * len(ordered),
            "seq": list(range(len(ordered))),
            "stream": [r[0] for r in ordered],
            "event": [r[2].event for r in ordered],
            "ts": [r[2].ts for r in ordered],
            "symbol": [_symbol(r[2]) for r in ordered],
            "data": [json.dumps(r[2].data, default=str, sort_keys=True) for r in ordered],
        },
        schema={"run_id": pl.String, "seq": pl.Int32, "stream": pl.String, "event": pl.String,
                "ts": pl.Datetime("us", "UTC"), "symbol": pl.String, "data": pl.String},
    )  # fmt: skip


def _symbol(event: events.Event) -> str | None:
    value = event.data.get("symbol")
    return str(value) if value is not None else None


def decisions(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    """(minute, event, symbol, fields) of every position event but the throttled marks, by
    minute then symbol, numbers by value and ids without their random parts: what two runs of
    the same book, bars and settings must agree on exactly."""
    out = []
    for row in rows:
        if not str(row["event"]).startswith("position.") or row["event"] in NOT_DECISIONS:
            continue
        data = row["data"] if isinstance(row["data"], Mapping) else json.loads(row["data"])
        kept = {k: _number(v) for k, v in data.items() if k not in VOLATILE_FIELDS}
        if isinstance(kept.get("client_order_id"), str):
            kept["client_order_id"] = _RANDOM_PART.sub("#", kept["client_order_id"])
        ts = row["ts"]
        minute = (ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))).replace(
            second=0, microsecond=0
        )
        out.append(
            (minute.isoformat(), str(row["event"]), row.get("symbol"),
             json.dumps(kept, default=str, sort_keys=True))
        )  # fmt: skip
    # Within a minute, symbols are handled in whatever order the order threads finish: each
    # symbol's own order is kept, the interleaving is not a decision.
    return sorted(out, key=lambda d: (d[0], d[2] or ""))


def _number(value: Any) -> Any:
    """A decimal string by its value ("185.000000" from the warehouse is "185.00" live)."""
    if isinstance(value, str) and value[:1] in "-0123456789" and value:
        try:
            return str(Decimal(value).normalize())
        except ArithmeticError:
            return value
    return value


def begin_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    settings_set: str | None,
    overrides: Mapping[str, str],
    first_day: date,
    last_day: date,
    symbols: Sequence[str],
    started_at: datetime,
) -> None:
    conn.execute(f"DELETE FROM {REPLAY_EVENTS} WHERE run_id = ?", [run_id])
    conn.execute(f"DELETE FROM {REPLAY_RUNS} WHERE run_id = ?", [run_id])
    conn.execute(
        f"INSERT INTO {REPLAY_RUNS} (run_id, settings_set, overrides, first_day, last_day, "
        "symbols, status, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
        [run_id, settings_set, json.dumps(dict(overrides), sort_keys=True), first_day, last_day,
         list(symbols), started_at],
    )  # fmt: skip


def finish_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    rows: pl.DataFrame,
    score: Any | None,
    *,
    finished_at: datetime,
    error: str | None = None,
) -> None:
    """The run's events and score in one transaction: a run is recorded whole or not at all."""
    conn.execute("BEGIN TRANSACTION")
    try:
        insert_frame(conn, REPLAY_EVENTS, rows)
        values: dict[str, Any] = asdict(score) if score is not None else {}
        values.update(status="failed" if error else "ok", finished_at=finished_at, error=error)
        columns = ", ".join(f"{k} = ?" for k in values)
        conn.execute(
            f"UPDATE {REPLAY_RUNS} SET {columns} WHERE run_id = ?", [*values.values(), run_id]
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
