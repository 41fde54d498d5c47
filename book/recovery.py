"""After a crash: finish what was decided and sent but never recorded.

An exit's flag (profit level taken, earnings date reduced for) is set when the broker accepts the
exit. If the worker died between the broker's answer and the commit, the state still lists the
exit's client id under `inflight`; here each is looked up by client id and, if the broker has it,
applied exactly as if the answer had arrived (`rules.apply.apply_executed`). The redelivered
message then finds the flag set and decides nothing, so no second order is sent.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from book.engine import Engine
from book.state import Changes
from broker.interface import Broker
from position_manager.broker_types import TimeInForce
from position_manager.logging import log_kv
from rules.apply import apply_executed
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
        pos = held.position
        for client_id in held.inflight:
            reason = exit_reason_of(client_id)
            order = broker.get_order_by_client_id(client_id)
            if reason is None or order is None or order.status in _NOT_ACCEPTED:
                continue
            decision = SubmitExit(
                symbol,
                closing_side(pos.side),
                order.qty or Decimal(0),
                "market",
                None,
                False,
                TimeInForce.DAY,
                client_id,
                reason,
            )
            pos = apply_executed(pos, decision, order.id)
            recovered += 1
            log_kv(
                log,
                logging.INFO,
                "recovered an exit sent before a crash",
                symbol=symbol,
                order_id=order.id,
                client_order_id=client_id,
            )
        held.position = pos
        held.inflight = ()
        changes.put(held)
    return recovered
