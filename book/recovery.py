"""After a crash: finish what was decided and sent but never recorded.

An exit's flag (profit level taken, earnings date reduced for) is set when the broker accepts the
exit. If the worker died between the broker's answer and the commit, the state still lists the
exit's client id under `inflight`; here each is looked up by client id and, if the broker has it,
applied exactly as if the answer had arrived (`Engine.apply_accepted`: the flag, the exit
working until its fill, and the event the history would have had, e.g. `position.profit_taking`).
The redelivered message then finds the flag set and decides nothing, so no second order is sent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from book.engine import Engine
from book.state import Changes
from broker.interface import Broker
from position_manager.broker_types import OrderKind
from position_manager.logging import log_kv
from rules.decisions import SubmitExit
from rules.exits import closing_side
from rules.order_ids import exit_reason_of

log = logging.getLogger(__name__)

_NOT_ACCEPTED = frozenset({"rejected"})


def recover_inflight(engine: Engine, broker: Broker, changes: Changes) -> int:
    """Apply in-flight exits the broker accepted; returns how many were recovered."""
    recovered = 0
    for symbol, held in list(engine.held.items()):
        if not held.inflight:
            continue
        client_ids, held.inflight = held.inflight, ()
        for client_id in client_ids:
            reason = exit_reason_of(client_id)
            order = broker.get_order_by_client_id(client_id)
            if reason is None or order is None or order.status in _NOT_ACCEPTED:
                continue
            decision = SubmitExit(
                symbol,
                closing_side(held.position.side),
                order.qty or Decimal(0),
                "limit" if order.kind is OrderKind.LIMIT else "market",
                order.limit_price,
                order.extended_hours,
                order.time_in_force,
                client_id,
                reason,
            )
            engine.apply_accepted(symbol, decision, order, changes)
            recovered += 1
            log_kv(
                log,
                logging.INFO,
                "recovered an exit sent before a crash",
                symbol=symbol,
                order_id=order.id,
                client_order_id=client_id,
            )
        changes.put(held)
    return recovered
