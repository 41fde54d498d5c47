"""The batch INSERT from Arrow stores exactly what the row-by-row `executemany` stored.

The reference below is the ingest's previous write path, kept verbatim: bound Python values, one
row at a time (`executemany`; orders one upsert each). Both write the same mapped rows of a sample
of events (every position event kind, orders merged and upserted across batches, alerts with and
without a symbol, decimals past six places, timestamps in other offsets) into two warehouses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.history.jobs import _insert_rows, merge_order_rows
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
from position_manager.events import Event
from warehouse.connection import open_warehouse
from warehouse.tables import ALERTS, ORDERS, POSITION_EVENTS


def _old_sql(table: str, columns: Sequence[str], conflict: str) -> str:
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({names}, ingested_at) VALUES ({marks}, now()) {conflict}"


_KEEP = ("qty", "filled_qty", "filled_avg_price", "position_key", "action")
OLD_ORDER_SQL = (
    f"INSERT INTO {ORDERS} ({', '.join(ORDER_COLUMNS)}, recorded_at) "
    f"VALUES ({', '.join('?' for _ in ORDER_COLUMNS)}, now()) "
    "ON CONFLICT (order_id) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {ORDERS}.{c})" for c in _KEEP)
    + f", status = excluded.status, replaced_by = coalesce(excluded.replaced_by, "
    f"{ORDERS}.replaced_by), created_at = coalesce({ORDERS}.created_at, excluded.created_at), "
    "updated_at = excluded.updated_at, recorded_at = excluded.recorded_at"
)


def _old_insert(conn: Any, stream: str, rows: list[dict[str, Any]]) -> None:
    if stream == events.POSITIONS_STREAM:
        sql = _old_sql(POSITION_EVENTS, POSITION_COLUMNS, "ON CONFLICT (stream_id) DO NOTHING")
        conn.executemany(sql, [[r[c] for c in POSITION_COLUMNS] for r in rows])
    elif stream == events.ALERTS_STREAM:
        sql = _old_sql(ALERTS, ALERT_COLUMNS, "ON CONFLICT (stream_id) DO NOTHING")
        conn.executemany(sql, [[r[c] for c in ALERT_COLUMNS] for r in rows])
    else:
        for row in merge_order_rows(rows):
            conn.execute(OLD_ORDER_SQL, [row[c] for c in ORDER_COLUMNS])


def _money(rng: random.Random) -> str:
    value = Decimal(rng.randint(-(10**9), 10**9)) / Decimal(10) ** rng.randint(0, 9)
    return rng.choice([str(value), format(value, "f"), str(value.normalize())])


def _sample(seed: int = 5) -> dict[str, list[list[dict[str, Any]]]]:
    """Batches of mapped rows per stream, from events built to cover the mappings' branches."""
    rng = random.Random(seed)
    ledger = PositionLedger()
    zones = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=2, minutes=30))]
    kinds = [events.POSITION_OPENED, events.POSITION_STOP_SET, events.POSITION_PNL_UPDATED,
             events.POSITION_TRAILING_STOP_UPDATED, events.POSITION_PROFIT_TAKING,
             events.POSITION_REDUCED, events.POSITION_STOP_HIT, events.POSITION_CLOSED,
             events.POSITION_EARNINGS_REDUCTION]  # fmt: skip
    batches: dict[str, list[list[dict[str, Any]]]] = {
        events.POSITIONS_STREAM: [],
        events.ORDERS_STREAM: [],
        events.ALERTS_STREAM: [],
    }
    ms = 1_800_000_000_000
    for _ in range(6):
        positions, orders, alerts = [], [], []
        for i in range(150):
            ms += rng.randint(1, 3)
            ts = datetime.fromtimestamp(ms / 1000, rng.choice(zones))
            symbol = rng.choice(["AAPL", "KO", "NVDA", "TSLA"])
            name = rng.choice(kinds)
            data: dict[str, Any] = {"symbol": symbol}
            for field in ("quantity", "entry_price", "stop_price", "new_stop", "unrealized_pnl",
                          "current_price", "shares", "price", "realized_pnl", "pnl",
                          "exit_price", "quantity_closed", "added"):  # fmt: skip
                if rng.random() < 0.5:
                    data[field] = _money(rng)
            if rng.random() < 0.4:
                data["side"] = rng.choice(["long", "short"])
            if name == events.POSITION_OPENED and rng.random() < 0.8:
                data["position_key"] = f"{symbol}-l-{rng.getrandbits(40):010x}"
            event = Event(name, f"e{ms}", ts, data)
            positions.append(position_row(f"{ms}-{i}", event, ledger))
            order_id = f"o-{rng.randint(1, 60)}"
            client_id = f"pm-{symbol}-l-{int(order_id[2:]):010x}-stop-g0"
            update = {"order_id": order_id, "client_order_id": client_id, "symbol": symbol,
                      "side": "sell", "order_type": "stop",
                      "status": rng.choice(["new", "filled", None])}  # fmt: skip
            for field in ("qty", "filled_qty", "filled_avg_price"):
                if rng.random() < 0.6:
                    update[field] = _money(rng).lstrip("-")
            if rng.random() < 0.3:
                update["replaced_by"] = f"o-{rng.randint(61, 99)}"
            if rng.random() < 0.5:
                update["timestamp"] = ts.isoformat()
            kind = rng.choice([events.ORDER_NEW, events.ORDER_FILLED, events.ORDER_REPLACED])
            found = order_row(Event(kind, f"u{ms}", ts, update))
            assert found is not None
            orders.append(found)
            if rng.random() < 0.2:
                alert = {"message": "no stop"} | ({"symbol": symbol} if rng.random() < 0.7 else {})
                alerts.append(alert_row(f"{ms}-{i}", Event(events.ALERT_UNPROTECTED, "a", ts,
                                                           alert)))  # fmt: skip
        batches[events.POSITIONS_STREAM].append(positions)
        batches[events.ORDERS_STREAM].append(orders)
        batches[events.ALERTS_STREAM].append(alerts)
    return batches


def _tables(path: Path, insert: Any, batches: dict[str, list[list[dict[str, Any]]]]) -> list:
    with open_warehouse(path) as conn:
        for stream, stream_batches in batches.items():
            for batch in stream_batches:
                conn.execute("BEGIN TRANSACTION")
                insert(conn, stream, batch)
                conn.execute("COMMIT")
        return [
            conn.execute(f"SELECT * EXCLUDE ({stamp}) FROM {table} ORDER BY ALL").fetchall()
            for table, stamp in (
                (POSITION_EVENTS, "ingested_at"),
                (ALERTS, "ingested_at"),
                (ORDERS, "recorded_at"),
            )
        ]


def test_arrow_batches_store_what_executemany_stored(tmp_path: Path) -> None:
    batches = _sample()
    old = _tables(tmp_path / "old.duckdb", _old_insert, batches)
    new = _tables(tmp_path / "new.duckdb", _insert_rows, batches)
    assert [len(t) for t in new] == [len(t) for t in old]
    assert len(new[0]) == 900 and len(new[1]) > 100 and len(new[2]) == 60
    assert new == old
