"""The history ingest never stops on one message (issue 11): a message it cannot decode, or a row
the warehouse cannot store, goes to the dead-letter stream (consumer=history) with its reason,
and the rows after it land in DuckDB, in the same run and in every later one."""

from __future__ import annotations

import json
from typing import Any, cast

import dagster as dg

from pipelines.history.jobs import ingest_position_history
from pipelines.history.sensors import position_history_sensor
from position_manager import events
from position_manager.events import encode_event, publish
from tests.pipelines.conftest import Env, step_metadata
from tests.support.redis_reads import stream_text


def _order(order_id: str, **fields: Any) -> dict[str, Any]:
    base = {"order_id": order_id, "client_order_id": f"c-{order_id}", "symbol": "AAPL",
            "side": "sell", "order_type": "stop", "qty": "10", "filled_qty": "0",
            "status": "new"}  # fmt: skip
    return {**base, **fields}


def _ingest(env: Env, instance: dg.DagsterInstance) -> dict[str, Any]:
    tick = env.tick(position_history_sensor, instance)
    assert len(tick.run_requests) == 1
    result = env.launch(ingest_position_history, instance, tick.run_requests[0])
    assert result.success
    return step_metadata(result, "ingest_stream_events")


def _letters(env: Env) -> list[tuple[str, str, str]]:
    return [
        (d["source_stream"], d["consumer"], d["reason"])
        for d in stream_text(env.client, events.DEAD_LETTER_STREAM)
    ]


def test_an_order_event_with_price_inf_is_dead_lettered_and_the_rows_after_it_land(
    env: Env, instance: dg.DagsterInstance
) -> None:
    publish(env.client, events.ORDER_NEW, _order("o-1"))
    publish(env.client, events.ORDER_FILLED, _order("o-2", price="inf", filled_avg_price="inf"))
    publish(env.client, events.ORDER_NEW, _order("o-3"))
    meta = _ingest(env, instance)
    assert (meta["orders_read"], meta["orders_written"], meta["orders_malformed"]) == (3, 2, 1)
    assert env.sql("SELECT order_id FROM orders ORDER BY order_id") == [("o-1",), ("o-3",)]
    assert _letters(env) == [(events.ORDERS_STREAM, "history", "price is not finite: 'inf'")]

    publish(env.client, events.ORDER_NEW, _order("o-4"))  # the next run goes on from there
    _ingest(env, instance)
    assert env.sql("SELECT count(*) FROM orders") == [(3,)]
    assert len(_letters(env)) == 1


def test_a_number_too_big_for_the_warehouse_is_dead_lettered_not_fatal(
    env: Env, instance: dg.DagsterInstance
) -> None:
    """DECIMAL(20, 6) holds 14 integer digits: qty 1e30 failed the whole batch on every run."""
    publish(env.client, events.ORDER_NEW, _order("o-1", qty="1e30"))
    publish(env.client, events.ORDER_NEW, _order("o-2"))
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "AAPL", "stop_price": "1e30"})
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "AAPL", "stop_price": "92"})
    _ingest(env, instance)
    assert env.sql("SELECT order_id FROM orders") == [("o-2",)]
    assert env.sql("SELECT stop_price FROM position_events") == [(92,)]
    reasons = sorted(reason for _, _, reason in _letters(env))
    assert reasons == [
        "qty '1e30' is too big for DECIMAL(20, 6)",
        "stop_price '1e30' is too big for DECIMAL(20, 6)",
    ]


def test_messages_that_cannot_be_decoded_are_dead_lettered_and_the_rest_land(
    env: Env, instance: dg.DagsterInstance
) -> None:
    """Non-UTF-8 bytes, a binary field name, deep nesting, a 5,000-digit integer, a lone
    surrogate and a symbol that is a list: each used to raise out of the job."""

    def envelope(data: bytes, **extra: bytes) -> dict[Any, Any]:
        fields = {
            k.encode(): v.encode() for k, v in encode_event(events.POSITION_STOP_SET, {}).items()
        }
        return {**fields, b"data": data, **{k.encode(): v for k, v in extra.items()}}

    hostile = [
        envelope(b'{"symbol":"AAPL","note":"\xff"}'),
        {**envelope(b'{"symbol":"AAPL"}'), b"\xfe\xff": b"x"},
        envelope(b'{"symbol":"AAPL","x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        envelope(b'{"symbol":"AAPL","stop_price":' + b"9" * 5000 + b"}"),
        envelope(b'{"symbol":"\\ud800"}'),
        envelope(b'{"symbol":["AAPL"]}'),
    ]
    for fields in hostile:
        env.client.xadd(events.POSITIONS_STREAM, cast(dict[Any, Any], fields))
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "KO", "stop_price": "55"})
    meta = _ingest(env, instance)
    assert (meta["positions_read"], meta["positions_written"], meta["positions_malformed"]) == (
        7, 1, 6)  # fmt: skip
    assert env.sql("SELECT symbol, stop_price FROM position_events") == [("KO", 55)]
    letters = stream_text(env.client, events.DEAD_LETTER_STREAM)
    assert [d["consumer"] for d in letters] == ["history"] * 6
    assert all(json.loads(d["fields"]) for d in letters)  # stored escaped, as text
    assert env.sql(
        "SELECT rows_read, rows_bad FROM stream_cursors WHERE stream = 'pm:stream:positions'"
    ) == [(7, 6)]


def test_a_row_the_warehouse_refuses_is_found_and_dead_lettered_alone(
    env: Env, instance: dg.DagsterInstance
) -> None:
    """Every field fits, but the realized P&L the mapping computes for the close (its total less
    what the partial fills booked) does not: DuckDB refuses the batch, each row is tried alone,
    and only that row is dead-lettered."""
    opened = {"symbol": "BIG", "quantity": "90000000000000", "entry_price": "1", "side": "long",
              "position_key": "BIG-l-0123456789"}  # fmt: skip
    publish(env.client, events.POSITION_OPENED, opened)
    sale = {"symbol": "BIG", "shares": "1", "price": "2", "quantity": "89999999999999",
            "realized_pnl": "90000000000000"}  # fmt: skip
    publish(env.client, events.POSITION_REDUCED, sale)
    closed = {"symbol": "BIG", "exit_price": "1", "pnl": "-90000000000000"}
    publish(env.client, events.POSITION_CLOSED, closed)
    publish(env.client, events.POSITION_STOP_SET, {"symbol": "KO", "stop_price": "55"})
    _ingest(env, instance)
    assert env.sql("SELECT event FROM position_events ORDER BY stream_id") == [
        (events.POSITION_OPENED,),
        (events.POSITION_REDUCED,),
        (events.POSITION_STOP_SET,),
    ]
    ((stream, consumer, reason),) = _letters(env)
    assert (stream, consumer) == (events.POSITIONS_STREAM, "history")
    assert reason.startswith("warehouse refused the row: ConversionException")
