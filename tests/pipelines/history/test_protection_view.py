"""The `protection` view: every interval a position was held without a live stop at the broker,
how long, and why (warehouse/migrations/0004_protection_view.sql), on the broker's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import redis

from pipelines.history.jobs import ingest_all
from position_manager import events
from position_manager.events import publish
from warehouse.connection import open_warehouse

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
KEY = "KO-l-0123456789"


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _order(
    client: redis.Redis, name: str, order_id: str, gen: int, at: float, **extra: str
) -> None:
    data = {"order_id": order_id, "client_order_id": f"pm-{KEY}-stop-g{gen}", "symbol": "KO",
            "side": "sell", "order_type": "stop", "qty": "100", "timestamp": _at(at).isoformat(),
            **extra}  # fmt: skip
    # The publisher's clock (the envelope) is an hour late: the broker's `timestamp` counts.
    publish(client, name, data, ts=_at(at) + timedelta(hours=1))


def test_each_interval_without_a_live_stop_with_its_length_and_cause(
    redis_client: redis.Redis, duckdb_path: Path
) -> None:
    opened = {"symbol": "KO", "quantity": "100", "entry_price": "60", "side": "long",
              "position_key": KEY}  # fmt: skip
    publish(redis_client, events.POSITION_OPENED, opened, ts=_at(0))
    _order(redis_client, events.ORDER_NEW, "o-1", 0, 2)
    _order(redis_client, events.ORDER_CANCELED, "o-1", 0, 10, status="canceled")
    _order(redis_client, events.ORDER_NEW, "o-2", 1, 13.5)
    _order(redis_client, events.ORDER_FILLED, "o-2", 1, 20, status="filled", filled_qty="100")
    closed = {"symbol": "KO", "exit_price": "55", "pnl": "-500", "order_id": "o-2"}
    publish(redis_client, events.POSITION_CLOSED, closed, ts=_at(20))
    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, redis_client)
        rows = conn.execute(
            "SELECT symbol, unprotected_from, seconds, cause FROM protection"
        ).fetchall()
    assert [(s, f.astimezone(UTC), Decimal(str(n)), c) for s, f, n, c in rows] == [
        ("KO", _at(0), Decimal("2.0"), "opened: no stop yet"),
        ("KO", _at(10), Decimal("3.5"), "stop canceled, next one not live yet"),
    ]


def test_a_position_never_protected_is_one_interval_up_to_its_close(
    redis_client: redis.Redis, duckdb_path: Path
) -> None:
    opened = {"symbol": "SNDL", "quantity": "0.5", "entry_price": "2", "side": "long",
              "position_key": "SNDL-l-0123456789"}  # fmt: skip
    publish(redis_client, events.POSITION_OPENED, opened, ts=_at(0))
    closed = {"symbol": "SNDL", "exit_price": "2.1", "pnl": "0.05"}
    publish(redis_client, events.POSITION_CLOSED, closed, ts=_at(60))
    with open_warehouse(duckdb_path) as conn:
        ingest_all(conn, redis_client)
        rows = conn.execute("SELECT symbol, seconds, cause FROM protection").fetchall()
    assert [(s, Decimal(str(n)), c) for s, n, c in rows] == [
        ("SNDL", Decimal("60.0"), "no stop ever placed")
    ]
