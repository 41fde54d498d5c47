"""The position-history job: Redis event streams -> DuckDB, exactly once by stream id.

The job keeps its own read position per stream in the warehouse (`stream_cursors`), written in
the same transaction as the rows it covers, and every insert is ``ON CONFLICT DO NOTHING`` on the
stream id. So a run that fails half-way leaves the warehouse at the last committed batch, a second
run requested for the same events inserts nothing, and the sensor's own cursor only decides *when*
to run, never *what* is ingested. After each commit the job notes the ingested stream id in Redis
(`HISTORY_INGESTED_KEY`), which is how the sensor — which never opens DuckDB — knows whether
it is behind.

Streams: `position.*` -> position_events (the columns the views use, see `pipelines.history.rows`),
`order.*` -> orders (latest state per order id), `alert.*` -> alerts. A malformed message, or
a row the warehouse cannot store (NaN, inf, a number past DECIMAL(20, 6), a wrong type), is
dead-lettered, counted and skipped: it can never stop the history.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation's type.

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import dagster as dg
import duckdb
import redis

from pipelines.charts import daily_pnl_chart
from pipelines.common import WAREHOUSE_POOL
from pipelines.history.frames import history_frame, select_list
from pipelines.history.rows import (
    ALERT_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    LedgerEntry,
    PositionLedger,
    alert_row,
    order_row,
    position_row,
)
from pipelines.resources import RedisResource, WarehouseResource
from position_manager.errors import InvalidEventError
from position_manager.events import (
    ALERTS_STREAM,
    DEAD_LETTER_STREAM,
    ORDERS_STREAM,
    POSITIONS_STREAM,
    decode_event,
)
from position_manager.logging import log_kv
from position_manager.redis_schema import (
    HISTORY_INGESTED_KEY,
    POSITION_STATE_KEY,
    dead_letter_fields,
    redis_fields,
    text,
)
from position_manager.wire import printable
from warehouse.errors import WarehouseBusyError
from warehouse.frames import arrow_view
from warehouse.tables import (
    ALERTS,
    DAILY_PNL,
    OPEN_POSITIONS,
    ORDERS,
    POSITION_EVENTS,
    STREAM_CURSORS,
)

log = logging.getLogger(__name__)

HISTORY_STREAMS: Final = (POSITIONS_STREAM, ORDERS_STREAM, ALERTS_STREAM)
START_ID: Final = "0-0"


@dataclass(frozen=True, slots=True)
class StreamIngest:
    """What one run did with one stream."""

    stream: str
    read: int
    written: int
    bad: int
    last_id: str


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence), not as text ("10-0" > "9-0")."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def read_cursor(conn: duckdb.DuckDBPyConnection, stream: str) -> str:
    sql = f"SELECT last_id FROM {STREAM_CURSORS} WHERE stream = ?"
    row = conn.execute(sql, [stream]).fetchone()
    return str(row[0]) if row else START_ID


def load_ledger(
    conn: duckdb.DuckDBPyConnection, fallback_key: Callable[[str], str | None]
) -> PositionLedger:
    """Open positions as the warehouse knows them, so the next events attach to the right key."""
    rows = conn.execute(
        f"SELECT position_key, symbol, side, quantity, entry_price, realized_pnl "
        f"FROM {OPEN_POSITIONS} ORDER BY last_event_at"
    ).fetchall()
    ledger = PositionLedger(fallback_key=fallback_key)
    for key, symbol, side, quantity, entry_price, realized in rows:
        ledger.entries[key] = LedgerEntry(
            symbol, side, quantity, entry_price, Decimal(realized or 0)
        )
        ledger.key_by_symbol[symbol] = key  # ordered by last event: the latest wins
    return ledger


def state_position_key(client: redis.Redis) -> Callable[[str], str | None]:
    """The worker's own key for a position it adopted without a `position.opened` event."""

    def lookup(symbol: str) -> str | None:
        raw = client.hget(POSITION_STATE_KEY.format(symbol=symbol), "position_key")
        return text(raw) if raw else None

    return lookup


def _insert_select(table: str, columns: Sequence[str], stamp: str, source: str) -> str:
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table} ({names}, {stamp}) SELECT {select_list(columns)}, now() FROM {source}"
    )


_ROWS: Final = "pm_history_rows"  # the registered Arrow view of one batch's frame
_POSITION_SQL: Final = (
    _insert_select(POSITION_EVENTS, POSITION_COLUMNS, "ingested_at", _ROWS)
    + " ON CONFLICT (stream_id) DO NOTHING"
)
_ALERT_SQL: Final = (
    _insert_select(ALERTS, ALERT_COLUMNS, "ingested_at", _ROWS)
    + " ON CONFLICT (stream_id) DO NOTHING"
)
_KEEP_IF_NULL: Final = ("qty", "filled_qty", "filled_avg_price", "position_key", "action")
_ORDER_SQL: Final = (
    _insert_select(ORDERS, ORDER_COLUMNS, "recorded_at", _ROWS)
    + " ON CONFLICT (order_id) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {ORDERS}.{c})" for c in _KEEP_IF_NULL)
    + f", status = excluded.status, replaced_by = coalesce(excluded.replaced_by, "
    f"{ORDERS}.replaced_by), created_at = coalesce({ORDERS}.created_at, excluded.created_at), "
    "updated_at = excluded.updated_at, recorded_at = excluded.recorded_at"
)


def merge_order_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per order id (DuckDB cannot update a row twice in one statement): later fields
    win where they are known, the first `created_at` stays."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        found = merged.get(row["order_id"])
        if found is None:
            merged[row["order_id"]] = dict(row)
            continue
        for column, value in row.items():
            if value is not None and not (column == "created_at" and found[column] is not None):
                found[column] = value
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class Source:
    """Where a row came from: its stream id and raw fields (what a dead letter keeps)."""

    stream_id: str
    fields: Mapping[Any, Any]


def _insert_rows(conn: duckdb.DuckDBPyConnection, stream: str, rows: list[dict[str, Any]]) -> None:
    """One INSERT ... SELECT for the batch, from its rows as an Arrow frame
    (`pipelines.history.frames`): DuckDB reads the columns, not one bound row at a time."""
    if not rows:
        return
    if stream == ORDERS_STREAM:
        rows, sql = merge_order_rows(rows), _ORDER_SQL
    else:
        sql = _POSITION_SQL if stream == POSITIONS_STREAM else _ALERT_SQL
    with arrow_view(conn, history_frame(stream, rows), _ROWS):
        conn.execute(sql)


def _write_cursor(
    conn: duckdb.DuckDBPyConnection, stream: str, last_id: str, read: int, bad: int
) -> None:
    conn.execute(
        f"INSERT INTO {STREAM_CURSORS} VALUES (?, ?, ?, ?, now()) ON CONFLICT (stream) "
        "DO UPDATE SET last_id = excluded.last_id, "
        f"rows_read = {STREAM_CURSORS}.rows_read + excluded.rows_read, "
        f"rows_bad = {STREAM_CURSORS}.rows_bad + excluded.rows_bad, "
        "updated_at = excluded.updated_at",
        [stream, last_id, read, bad],
    )


def _transaction(conn: duckdb.DuckDBPyConnection, work: Callable[[], None]) -> None:
    conn.execute("BEGIN TRANSACTION")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _write_batch(
    conn: duckdb.DuckDBPyConnection,
    stream: str,
    rows: list[dict[str, Any]],
    last_id: str,
    read: int,
    bad: int,
) -> None:
    """Rows and the stream's cursor in one transaction: both or neither."""

    def work() -> None:
        _insert_rows(conn, stream, rows)
        _write_cursor(conn, stream, last_id, read, bad)

    _transaction(conn, work)


def _refused_rows(
    conn: duckdb.DuckDBPyConnection, stream: str, rows: list[dict[str, Any]]
) -> dict[int, str]:
    """Which rows DuckDB refuses, and why: each tried alone in a transaction rolled back (slow,
    but only after a batch failed). Rows the mapping let through but the table cannot hold
    (a realized P&L computed past DECIMAL(20, 6), say) are found here."""
    refused: dict[int, str] = {}
    for index, row in enumerate(rows):
        conn.execute("BEGIN TRANSACTION")
        try:
            _insert_rows(conn, stream, [row])
        except duckdb.Error as exc:
            refused[index] = f"warehouse refused the row: {type(exc).__name__}: {exc}"
        finally:
            conn.execute("ROLLBACK")
    return refused


def _dead_letter(
    client: redis.Redis, stream: str, source: Source, reason: str, letters: list[dict[str, str]]
) -> None:
    log_kv(log, logging.WARNING, "history row dead-lettered", stream=stream,
           stream_id=source.stream_id, reason=printable(reason, 300))  # fmt: skip
    letters.append(dead_letter_fields(stream, source.stream_id, source.fields, reason,
                                      consumer="history"))  # fmt: skip


def ingest_stream(
    conn: duckdb.DuckDBPyConnection,
    client: redis.Redis,
    stream: str,
    ledger: PositionLedger,
    *,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> StreamIngest:
    """Read `stream` after the warehouse's cursor, batch by batch, until caught up (or
    `max_batches`, so one run stays short; the sensor asks again while behind).

    A message that cannot be decoded, or a row the warehouse cannot store, goes to the
    dead-letter stream (``consumer=history``, with its reason) and is counted in `rows_bad`; the
    rows after it are ingested. The dead letters are written before the batch commits, so a run
    that dies in between writes them again on the next run (at least once, never lost)."""
    last_id = read_cursor(conn, stream)
    total_read = total_written = total_bad = 0
    for _ in range(max_batches):
        entries = client.xrange(stream, min=f"({last_id}", max="+", count=batch_size)
        if not entries:
            break
        rows: list[dict[str, Any]] = []
        sources: list[Source] = []
        letters: list[dict[str, str]] = []
        for raw_id, fields in entries:
            source = Source(text(raw_id), fields or {})
            try:
                row = _row(stream, source, ledger)
            except InvalidEventError as exc:
                _dead_letter(client, stream, source, str(exc), letters)
                continue
            if row is not None:
                rows.append(row)
                sources.append(source)
        last_id = text(entries[-1][0])
        try:
            _write_batch(conn, stream, rows, last_id, len(entries), len(letters))
        except duckdb.Error:
            refused = _refused_rows(conn, stream, rows)
            for index, reason in refused.items():
                _dead_letter(client, stream, sources[index], reason, letters)
            rows = [row for index, row in enumerate(rows) if index not in refused]
            _publish_letters(client, letters)
            _write_batch(conn, stream, rows, last_id, len(entries), len(letters))
        else:
            _publish_letters(client, letters)
        client.hset(HISTORY_INGESTED_KEY, stream, last_id)
        total_read += len(entries)
        total_written += len(rows)
        total_bad += len(letters)
        if len(entries) < batch_size:
            break
    if total_read == 0:
        client.hset(HISTORY_INGESTED_KEY, stream, last_id)  # nothing new: say how far we are anyway
    return StreamIngest(stream, total_read, total_written, total_bad, last_id)


def _row(stream: str, source: Source, ledger: PositionLedger) -> dict[str, Any] | None:
    """The warehouse row for one message (None: nothing to store), or `InvalidEventError`."""
    event = decode_event(source.fields)
    if stream == POSITIONS_STREAM:
        return position_row(source.stream_id, event, ledger)
    if stream == ALERTS_STREAM:
        return alert_row(source.stream_id, event)
    order = order_row(event)
    if order is None:
        raise InvalidEventError("order event without an order_id")
    return order


def _publish_letters(client: redis.Redis, letters: list[dict[str, str]]) -> None:
    if letters:
        pipe = client.pipeline(transaction=False)
        for letter in letters:
            pipe.xadd(DEAD_LETTER_STREAM, redis_fields(letter))
        pipe.execute()


def ingest_all(
    conn: duckdb.DuckDBPyConnection,
    client: redis.Redis,
    *,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> list[StreamIngest]:
    ledger = load_ledger(conn, state_position_key(client))
    return [
        ingest_stream(conn, client, s, ledger, batch_size=batch_size, max_batches=max_batches)
        for s in HISTORY_STREAMS
    ]


class HistoryConfig(dg.Config):
    """Batch size per transaction, and a cap on batches per stream per run (keeps runs short)."""

    batch_size: int = 1000
    max_batches_per_stream: int = 100


@dg.op(
    pool=WAREHOUSE_POOL,
    description="Append position/order/alert stream messages to DuckDB, exactly once by id.",
)
def ingest_stream_events(
    context: dg.OpExecutionContext,
    config: HistoryConfig,
    duckdb: WarehouseResource,
    redis: RedisResource,
) -> dg.Output[None]:
    try:
        with redis.get_client() as client, duckdb.get_connection() as conn:
            results = ingest_all(
                conn,
                client,
                batch_size=config.batch_size,
                max_batches=config.max_batches_per_stream,
            )
            pnl = conn.execute(
                f"SELECT date, realized_pnl, unrealized_pnl_last FROM {DAILY_PNL} "
                "ORDER BY date DESC LIMIT 30"
            ).fetchall()
    except WarehouseBusyError as exc:
        # Transient by design (one writer): nothing was written, the sensor asks again.
        context.log.warning(f"history not ingested this time: {exc}")
        return dg.Output(None, metadata={"skipped": str(exc)})
    metadata: dict[str, Any] = {}
    for r in results:
        name = r.stream.rsplit(":", 1)[-1]
        metadata[f"{name}_read"] = r.read
        metadata[f"{name}_written"] = r.written
        metadata[f"{name}_malformed"] = r.bad
        metadata[f"{name}_cursor"] = r.last_id
    metadata["dagster/row_count"] = sum(r.written for r in results)
    metadata["pnl_chart"] = daily_pnl_chart(
        [(d, Decimal(r), Decimal(u)) for d, r, u in reversed(pnl)]
    )
    return dg.Output(None, metadata=metadata)


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"warehouse": "writer"},
    description="Position, order and alert events from Redis into DuckDB (position_history).",
)
def ingest_position_history() -> None:
    ingest_stream_events()
