"""`position-manager flatten --confirm` while the worker is down: close every position here.

The same lifecycle-safe path as the worker's (`Engine.flatten_job`: the stop cancelled first,
then one exit for every share, under each symbol's lease), after each position is adopted from
the broker as the reconciliation does. With the worker alive the command goes to it instead
(`command.flatten`), so two parties never sell the same shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import redis

from book.jobs import JobBook
from book.reconcile import adopt_position
from book.state import Changes
from broker.interface import Broker
from position_manager.config import Settings
from rules.decisions import SubmitExit


@dataclass
class FlattenReport:
    session: str = ""
    sent: dict[str, str] = field(default_factory=dict)  # symbol -> the exit's client order id
    skipped: dict[str, str] = field(default_factory=dict)  # symbol -> why nothing was sent
    errors: dict[str, str] = field(default_factory=dict)


def flatten_itself(
    broker: Broker,
    client: redis.Redis,
    settings: Settings,
    today: date,
    cause: str,
    *,
    lease_wait: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FlattenReport:
    """Close every position here. A symbol whose lease is held (a worker that just died holds
    its leases until they expire, 15 s) is asked again every second for up to `lease_wait`."""
    positions = [p for p in broker.list_positions() if p.qty != 0]
    orders = broker.list_open_orders()
    report = FlattenReport()
    with JobBook(settings, broker, client, [p.symbol for p in positions], owner="flatten") as book:
        engine = book.engine
        report.session = engine.session.value
        changes = Changes()
        for position in positions:
            adopt_position(engine, position, orders, changes)
        book.commit(changes)
        for position in positions:
            symbol = position.symbol
            job = engine.flatten_job(symbol, today, cause)
            if job is None:
                why = (
                    "no exit in the CLOSED session"
                    if engine.session.value == "CLOSED"
                    else ("nothing left to sell (an exit is working)")
                )
                report.skipped[symbol] = why
                continue
            deadline = time.monotonic() + lease_wait
            while True:
                changes = Changes()
                results = book.run([job], changes)
                book.commit(changes)
                if not any(r.lease_busy for r in results) or time.monotonic() >= deadline:
                    break
                sleep(1.0)
                engine.retry.forget(symbol)
                job = engine.flatten_job(symbol, today, cause) or job
            for result in results:
                if result.lease_busy:
                    report.errors[symbol] = "lease held by another party"
                for outcome in result.outcomes:
                    if outcome.error is not None:
                        report.errors[symbol] = f"{type(outcome.error).__name__}: {outcome.error}"
                    elif isinstance(outcome.action, SubmitExit):
                        report.sent[symbol] = outcome.action.client_order_id
    return report
