"""The pre-earnings reduction job: halve a position once before its report date.

Requested by `pre_earnings_sensor` with run key ``earnings:<symbol>:<report date>``. With the worker
alive the job publishes `command.reduce_for_earnings` and waits (bounded, a blocking XREAD, no
polling sleep) for the worker's `position.earnings_reduction` to report what was sold. With the
worker down it reduces itself: the position is adopted from the broker, the rules decide
(`Engine.earnings_job`: shrink the stop first, then sell), the order runs under the symbol's lease,
and the Redis state records `earnings_reduced_for` so the worker, when back, does not repeat it.
The exit's client order id is derived from (position, report date): a second attempt by anyone
can never become a second sale.
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation's type.

import time
from datetime import date
from typing import Any, Final

import dagster as dg
import redis

from book.broker_clock import broker_today
from book.health import WORKER_MAX_AGE_SECONDS, worker_status
from book.jobs import JobBook
from book.reconcile import adopt_position
from book.state import Changes
from broker.interface import Broker
from pipelines.resources import BrokerResource, PipelineConfigResource, RedisResource
from position_manager import events
from position_manager.config import Settings
from position_manager.errors import InvalidEventError
from position_manager.events import decode_event, publish
from position_manager.redis_schema import (
    STATE_EARNINGS_REDUCED_FOR,
    state_key,
    text,
    text_or_none,
)
from rules.decisions import SubmitExit

EARNINGS_OP: Final = "reduce_position_for_earnings"


def reduced_for(client: Any, symbol: str) -> str | None:
    return text_or_none(client.hget(state_key(symbol), STATE_EARNINGS_REDUCED_FOR))


def stream_tip(client: Any, stream: str) -> str:
    entries = client.xrevrange(stream, "+", "-", count=1)
    if not entries:
        return "0-0"
    return text(entries[0][0])


def await_reduction(
    client: Any, symbol: str, report_date: str, after_id: str, timeout_seconds: float
) -> dict[str, Any] | None:
    """The worker's `position.earnings_reduction` for this symbol and date, read with a blocking
    XREAD after `after_id`; None when it did not come within the timeout."""
    deadline = time.monotonic() + timeout_seconds
    last = after_id
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            return None
        reply = client.xread({events.POSITIONS_STREAM: last}, count=100, block=left_ms)
        for _stream, entries in reply or []:
            for raw_id, fields in entries:
                last = text(raw_id)
                try:
                    event = decode_event(fields)
                except InvalidEventError:
                    continue
                data = event.data
                if (
                    event.event == events.POSITION_EARNINGS_REDUCTION
                    and data.get("symbol") == symbol
                    and data.get("report_date") == report_date
                ):
                    return data


def reduce_itself(
    broker: Broker,
    client: redis.Redis,
    settings: Settings,
    symbol: str,
    report: date,
    today: date,
) -> dict[str, Any]:
    """The worker is down: carry out the reduction here (see module docstring)."""
    position = broker.get_position(symbol)
    if position is None or position.qty == 0:
        return {"outcome": "not held", "shares_sold": "0"}
    orders = broker.list_open_orders([symbol])
    with JobBook(settings, broker, client, [symbol], owner="earnings") as book:
        engine = book.engine
        changes = Changes()
        adopt_position(engine, position, orders, changes)
        job = engine.earnings_job(symbol, today, report, changes)
        if job is None:
            book.commit(changes)
            held = engine.held[symbol].position
            why = (
                "already reduced for this report"
                if held.earnings_reduced_for == report
                else f"nothing to do in the {engine.session.value} session or outside the window"
            )
            return {"outcome": why, "shares_sold": "0", "session": engine.session.value}
        book.commit(changes)
        changes = Changes()
        results = book.run([job], changes)
        book.commit(changes)
    sold = [
        o
        for r in results
        for o in r.outcomes
        if isinstance(o.action, SubmitExit) and o.error is None and o.order is not None
    ]
    errors = [
        f"{type(o.error).__name__}: {o.error}" for r in results for o in r.outcomes if o.error
    ]
    if any(r.lease_busy for r in results):
        errors.append("lease held by another party")
    if not sold:
        return {"outcome": "failed", "shares_sold": "0", "errors": errors}
    exit_action = sold[0].action
    assert isinstance(exit_action, SubmitExit)
    order = sold[0].order
    assert order is not None
    return {
        "outcome": "reduced",
        "shares_sold": str(exit_action.qty),
        "order_id": order.id,
        "client_order_id": exit_action.client_order_id,
        "order_type": exit_action.order_type,
        "remaining_qty": str(abs(position.qty) - exit_action.qty),
    }


class EarningsReductionConfig(dg.Config):
    symbol: str
    report_date: str  # ISO date
    worker_max_age_seconds: float = WORKER_MAX_AGE_SECONDS
    # How long to wait for the worker to confirm; 0 returns right after the command is sent.
    confirm_timeout_seconds: float = 20.0


@dg.op(
    name=EARNINGS_OP,
    description="Halve a position before its report: through the worker, or itself when down.",
)
def reduce_position_for_earnings(
    context: dg.OpExecutionContext,
    config: EarningsReductionConfig,
    broker: BrokerResource,
    redis: RedisResource,
    pm_config: PipelineConfigResource,
) -> dg.Output[None]:
    symbol = config.symbol.upper()
    report = date.fromisoformat(config.report_date)
    metadata: dict[str, Any] = {"symbol": symbol, "report_date": report.isoformat()}
    with redis.get_client() as client:
        if reduced_for(client, symbol) == report.isoformat():
            metadata.update(outcome="already reduced for this report", shares_sold="0")
            return dg.Output(None, metadata=metadata)
        status = worker_status(client, config.worker_max_age_seconds)
        metadata["worker"] = status.describe()
        if status.alive:
            tip = stream_tip(client, events.POSITIONS_STREAM)
            publish(
                client,
                events.COMMAND_REDUCE_FOR_EARNINGS,
                {"symbol": symbol, "report_date": report.isoformat(), "run_id": context.run_id},
            )
            confirmed = await_reduction(
                client, symbol, report.isoformat(), tip, config.confirm_timeout_seconds
            )
            metadata["executed_by"] = "worker"
            if confirmed is None:
                metadata.update(
                    outcome="requested from the worker (not confirmed yet: see "
                    "position.earnings_reduction in position_history)",
                    shares_sold="unknown",
                )
            else:
                metadata.update(
                    outcome="reduced",
                    shares_sold=str(confirmed.get("shares_sold")),
                    order_id=str(confirmed.get("order_id")),
                )
        else:
            metadata["executed_by"] = "dagster"
            today = broker_today(client)
            result = reduce_itself(
                broker.get_broker(), client, pm_config.settings(), symbol, report, today
            )
            metadata.update({k: (v if isinstance(v, str) else str(v)) for k, v in result.items()})
            if result["outcome"] == "failed":
                raise dg.Failure(
                    description=f"{symbol}: pre-earnings reduction failed: {result['errors']}",
                    metadata=metadata,
                )
    context.log.info(f"pre-earnings {symbol} {report}: {metadata}")
    return dg.Output(None, metadata=metadata)


@dg.job(
    executor_def=dg.in_process_executor,
    # A failed attempt is retried by the daemon (instance setting run_retries.enabled); the
    # deterministic client order id keeps a retry from ever selling twice.
    tags={"dagster/max_retries": "2"},
    description="Pre-earnings reduction of one position for one report date.",
)
def reduce_for_earnings_job() -> None:
    reduce_position_for_earnings()


def earnings_run_config(symbol: str, report_date: date) -> dict[str, Any]:
    return {
        "ops": {EARNINGS_OP: {"config": {"symbol": symbol, "report_date": report_date.isoformat()}}}
    }
