"""History ingest: events/s from the Redis streams into DuckDB, against a raw DuckDB insert.

    .venv/bin/python benchmarks/bench_history_ingest.py [--events 1000000]

The streams get N events in the worker's mix (`position.*`, `order.*` trade updates, a few
`alert.*`), interleaved over many positions as a day of trading writes them: a position opens,
its stop is placed, marks come (`pnl_updated`), the stop trails (each trail a replace: `order.
replaced` + the replacement's `order.new`), a profit level sells part and the stop shrinks, then
the position closes. The real history code (`pipelines.history.jobs.ingest_all`, what the
`ingest_position_history` job runs) reads them into a fresh warehouse: events/s.

The baseline, in the same run: the same rows (mapped by the same `pipelines.history.rows`
functions, untimed) inserted into another fresh warehouse straight from Arrow (polars frames
through the Arrow C stream), one INSERT per table: DuckDB's own speed for these rows, with their
primary keys. Target: the ingest at >= 0.5x the raw rate. Exactly once: the rows equal the events
(position and alert rows one per event, orders one per order id), and a second ingest adds none.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import polars as pl
import redis

# benchmarks/ is on sys.path when a script here runs: the figures' JSON helper sits beside it.
from _figures import row, write

from pipelines.history.frames import history_frame
from pipelines.history.jobs import HISTORY_STREAMS, ingest_all, merge_order_rows
from pipelines.history.rows import (
    ALERT_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    PositionLedger,
    alert_row,
    order_row,
    position_row,
)
from position_manager import events
from position_manager.events import decode_event, encode_event, stream_for
from position_manager.local_redis import RedisServer, free_port
from warehouse.connection import open_warehouse
from warehouse.frames import ArrowRows
from warehouse.tables import ALERTS, ORDERS, POSITION_EVENTS

START = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
TARGET_RATIO = 0.5


def position_life(n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """One long position's events, in the worker's shapes (prices as strings, as Decimals
    travel)."""
    symbol = f"S{n:04d}"
    key = f"{symbol}-l-{uuid.uuid4().hex[:10]}"
    entry, qty, stop = Decimal("100") + n % 50, Decimal(100 + n % 7 * 10), Decimal(0)
    stamp = {"side": "long", "entry_price": str(entry), "position_key": key}
    stop = entry * Decimal("0.92")
    order_id, stop_action = f"o-{key}-0", "stop-g0"

    def order(name: str, oid: str, action: str, kind: str, **extra: Any) -> tuple[str, dict]:
        body = {"order_id": oid, "client_order_id": f"pm-{key}-{action}", "symbol": symbol,
                "side": "sell", "order_type": kind, "qty": str(qty), "filled_qty": "0",
                "status": name.split(".")[1], "timestamp": START.isoformat(), **extra}  # fmt: skip
        return name, body

    opened = {"symbol": symbol, "quantity": str(qty), "entry_price": str(entry),
              "stop_price": str(stop), **stamp}  # fmt: skip
    yield events.POSITION_OPENED, opened
    yield order(events.ORDER_NEW, order_id, "stop-g0", "stop", stop_price=str(stop))
    yield events.POSITION_STOP_SET, {"symbol": symbol, "stop_price": str(stop),
                                     "stop_order_id": order_id, "qty": str(qty),
                                     "reason": "new", "basis": "atr", **stamp}  # fmt: skip
    price = entry
    for mark in range(40):
        price += Decimal("0.13")
        yield events.POSITION_PNL_UPDATED, {
            "symbol": symbol, "unrealized_pnl": str((price - entry) * qty),
            "unrealized_pnl_pct": str(((price - entry) / entry).quantize(Decimal("0.000001"))),
            "current_price": str(price), "extended_hours": False, **stamp}  # fmt: skip
        if mark % 5 == 4:
            new_stop = (price * Decimal("0.95")).quantize(Decimal("0.01"))
            replacement = f"o-{key}-{mark}"
            yield order(events.ORDER_REPLACED, order_id, stop_action, "stop",
                        replaced_by=replacement)  # fmt: skip
            stop_action = f"rp{mark}"
            yield order(events.ORDER_NEW, replacement, stop_action, "stop",
                        stop_price=str(new_stop))  # fmt: skip
            yield events.POSITION_TRAILING_STOP_UPDATED, {
                "symbol": symbol, "old_stop": str(stop), "new_stop": str(new_stop),
                "stop_order_id": replacement, "qty": str(qty), **stamp}  # fmt: skip
            stop, order_id = new_stop, replacement
    sold = qty // 2
    yield events.POSITION_PROFIT_TAKING, {"symbol": symbol, "level": 1, "shares_sold": str(sold),
                                          "current_price": str(price), **stamp}  # fmt: skip
    exit_id = f"o-{key}-tp1"
    yield order(events.ORDER_NEW, exit_id, "tp1", "limit")
    yield order(events.ORDER_FILLED, exit_id, "tp1", "limit", filled_qty=str(sold),
                filled_avg_price=str(price))  # fmt: skip
    realized = (price - entry) * sold
    qty -= sold
    yield events.POSITION_REDUCED, {"symbol": symbol, "price": str(price), "quantity": str(qty),
                                    "shares": str(sold), "realized_pnl": str(realized),
                                    "pnl": str(realized), "reason": "exit", **stamp}  # fmt: skip
    if n % 10 == 0:
        yield events.ALERT_STALE_DATA, {"symbol": symbol, "message": "no quote for 65 s"}
    exit_price = price - Decimal("0.50")
    yield order(events.ORDER_FILLED, order_id, stop_action, "stop", filled_qty=str(qty),
                filled_avg_price=str(exit_price))  # fmt: skip
    total = realized + (exit_price - entry) * qty
    yield events.POSITION_CLOSED, {"symbol": symbol, "exit_price": str(exit_price),
                                   "pnl": str(total), "quantity_closed": str(qty),
                                   "stop_price": str(stop), **stamp}  # fmt: skip


def workload(total: int, concurrent: int = 500) -> Iterator[tuple[str, dict[str, Any]]]:
    """`total` events from positions `concurrent` at a time, interleaved round-robin."""
    made = 0
    ids = itertools.count()
    lives = [position_life(next(ids)) for _ in range(concurrent)]
    while made < total:
        for i, life in enumerate(lives):
            item = next(life, None)
            if item is None:
                lives[i] = life = position_life(next(ids))
                item = next(life)
            yield item
            made += 1
            if made == total:
                return


def fill_streams(client: redis.Redis, total: int) -> dict[str, int]:
    """XADD the workload, its broker-clock stamps one millisecond apart; events per stream."""
    counts = dict.fromkeys(HISTORY_STREAMS, 0)
    pipe = client.pipeline(transaction=False)
    for i, (name, data) in enumerate(workload(total)):
        stream = stream_for(name)
        counts[stream] += 1
        pipe.xadd(stream, encode_event(name, data, ts=START + timedelta(milliseconds=i)))  # type: ignore[arg-type]
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return counts


def mapped_rows(client: redis.Redis) -> dict[str, pl.DataFrame]:
    """Every stream's rows as the history code maps them (untimed): the baseline's input."""
    ledger = PositionLedger()
    frames: dict[str, pl.DataFrame] = {}
    for stream in HISTORY_STREAMS:
        rows: list[dict[str, Any]] = []
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
        for raw_id, fields in entries:
            event = decode_event(fields)
            stream_id = raw_id.decode()
            if stream == events.POSITIONS_STREAM:
                rows.append(position_row(stream_id, event, ledger))
            elif stream == events.ALERTS_STREAM:
                rows.append(alert_row(stream_id, event))
            else:
                found = order_row(event)
                assert found is not None
                rows.append(found)
        if stream == events.ORDERS_STREAM:
            rows = merge_order_rows(rows)
        frames[stream] = history_frame(stream, rows)
    return frames


def raw_insert(path: Path, frames: dict[str, pl.DataFrame]) -> float:
    """Seconds to insert the mapped rows from Arrow into a fresh warehouse, one INSERT each."""
    tables = {events.POSITIONS_STREAM: (POSITION_EVENTS, POSITION_COLUMNS, "ingested_at"),
              events.ALERTS_STREAM: (ALERTS, ALERT_COLUMNS, "ingested_at"),
              events.ORDERS_STREAM: (ORDERS, ORDER_COLUMNS, "recorded_at")}  # fmt: skip
    with open_warehouse(path) as conn:
        started = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        for stream, frame in frames.items():
            table, columns, stamp = tables[stream]
            conn.register("raw_rows", ArrowRows(frame))
            conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}, {stamp}) "
                f"SELECT {', '.join(columns)}, now() FROM raw_rows"
            )
            conn.unregister("raw_rows")
        conn.execute("COMMIT")
        return time.perf_counter() - started


def count(conn: Any, table: str) -> int:
    found = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(found[0]) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pm-bench-history-"))
    with RedisServer(port=free_port(), directory=tmp / "redis").start(appendonly=False) as server:
        client = redis.Redis.from_url(server.url)
        started = time.perf_counter()
        counts = fill_streams(client, args.events)
        per_stream = ", ".join(f"{s.rsplit(':', 1)[-1]} {n:,}" for s, n in counts.items())
        print(f"streams filled with {args.events:,} events in "
              f"{time.perf_counter() - started:.1f} s: {per_stream}")  # fmt: skip
        started = time.perf_counter()
        frames = mapped_rows(client)
        mapping_seconds = time.perf_counter() - started
        raw_seconds = raw_insert(tmp / "raw.duckdb", frames)
        with open_warehouse(tmp / "ingest.duckdb") as conn:
            started = time.perf_counter()
            results = ingest_all(conn, client, batch_size=10_000, max_batches=10_000)
            ingest_seconds = time.perf_counter() - started
            again = ingest_all(conn, client, batch_size=10_000, max_batches=10_000)
            positions, alerts, orders = (count(conn, t) for t in (POSITION_EVENTS, ALERTS, ORDERS))
    read = sum(r.read for r in results)
    distinct_orders = frames[events.ORDERS_STREAM].height
    exactly_once = (
        read == args.events
        and positions == counts[events.POSITIONS_STREAM]
        and alerts == counts[events.ALERTS_STREAM]
        and orders == distinct_orders
        and sum(r.read + r.written for r in again) == 0
        and all(r.bad == 0 for r in results)
    )
    rows = sum(f.height for f in frames.values())
    ingest_rate = args.events / ingest_seconds
    raw_rate = rows / raw_seconds
    ratio = ingest_rate / raw_rate
    print(f"ingest (the history job's code): {ingest_seconds:7.2f} s  {ingest_rate:10,.0f} "
          f"events/s")  # fmt: skip
    print(f"raw DuckDB insert from Arrow:    {raw_seconds:7.2f} s  {raw_rate:10,.0f} rows/s "
          f"({rows:,} rows: {distinct_orders:,} orders merged by id)")  # fmt: skip
    print(f"  of which reading, decoding and mapping the events alone (XRANGE, decode_event, "
          f"rows.py; timed apart): {mapping_seconds:.2f} s")  # fmt: skip
    print(f"ratio: {ratio:.2f}x the raw rate (target >= {TARGET_RATIO}x)")
    print(f"exactly once: {positions:,} position rows, {alerts:,} alert rows, {orders:,} orders; "
          f"second ingest read {sum(r.read for r in again)}: "
          f"{'yes' if exactly_once else 'NO'}")  # fmt: skip
    assert exactly_once, "the ingest lost or doubled rows"
    write(args.json, [
        row(f"history ingest, {args.events:,} events -> DuckDB", ingest_rate, "events/s",
            baseline=raw_rate, target=f">= {TARGET_RATIO}x a raw DuckDB insert from Arrow, "
            "exactly once", met=ratio >= TARGET_RATIO and exactly_once,
            shown=f"{ingest_rate:,.0f} events/s ({ingest_seconds:.1f} s)"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
