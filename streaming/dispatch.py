"""Routing stream messages to the engine; the quote hot path lives here.

Quotes: the symbol is read from the raw JSON bytes and looked up among held positions first, so
an unheld symbol costs a regex search and two dict lookups; only held symbols are decoded and
validated. Acks are collected and sent in one XACK per stream per batch. Order and approval
messages for a symbol whose order job is in flight wait (unacked) until the job is applied, so
an order event never races the state change it depends on.

Every message is handled on its own, never as part of its batch:

- one that cannot be decoded or validated (`InvalidEventError`, `RuleInputError`: any bytes,
  size, nesting or number; see `position_manager.wire` and `position_manager.amounts`) is
  dead-lettered with its reason and acked in the batch's commit;
- one whose handler fails for another reason (a bug) has what it added to the batch's `Changes`
  rolled back and its symbol's in-memory entry restored, and is left unacked: it is retried
  when it has been idle long enough and dead-lettered past the delivery limit (`Consumer`).

Either way its neighbours are handled and committed as if it had not been there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from book.engine import Engine, HeldSnapshot
from book.executor import Job
from book.fills import on_order_event
from book.messages import (
    canonical_quote_data,
    is_valid_symbol,
    load_data,
    parse_order_update,
    parse_quote,
    parse_report_date,
    parse_session,
    parse_trade_approval,
    quote_symbol,
    symbol_of,
)
from book.orders import SubmitEntry
from book.state import Changes, Savepoint
from position_manager import events
from position_manager.errors import InvalidEventError, RuleInputError
from position_manager.events import decode_event, unexpected_event
from position_manager.logging import kv, log_kv
from position_manager.session import Session
from position_manager.wire import MAX_ENTRY_BYTES, printable
from rules.order_ids import entry_order_id
from streaming.consumer import Message
from streaming.housekeeping import Housekeeping

log = logging.getLogger(__name__)
BAD = (InvalidEventError, RuleInputError)
REQUEST_REJECTED = frozenset({events.ORDER_REPLACE_REJECTED, events.ORDER_CANCEL_REJECTED})
_KNOWN_LIMIT = 200_000


class Dispatcher:
    """Hands each message to the engine (or to `housekeeping` for sessions, quotes seen and
    reconcile requests) and each resulting order job to `submit`, which returns True when the
    job was taken (its messages are then acked with the job's outcome)."""

    def __init__(
        self,
        engine: Engine,
        housekeeping: Housekeeping,
        submit: Callable[[Job | None], bool],
    ) -> None:
        self.engine = engine
        self.housekeeping = housekeeping
        self.submit = submit
        self._known: set[bytes] = set()  # well-formed symbols we do not hold
        self._deferred: dict[str, list[Message]] = {}
        self._touched: HeldSnapshot | None = None  # the symbol the current message changes

    @property
    def deferred(self) -> int:
        """Messages waiting for an order job of their symbol to be applied."""
        return sum(len(waiting) for waiting in self._deferred.values())

    def messages(self, messages: list[Message], changes: Changes) -> None:
        quotes: list[Message] = []
        for message in messages:
            if message[0] == events.QUOTES_STREAM:
                quotes.append(message)
                continue
            mark = changes.savepoint()
            self._touched = None
            try:
                self._other(message, changes)
            except BAD as exc:
                self._undo(mark, changes)
                changes.dead(message[0], message[1], message[2], str(exc))
            except Exception as exc:
                self._undo(mark, changes)
                self._failed(message, exc)
        if quotes:
            self._quotes(quotes, changes)

    def _touch(self, symbol: str) -> None:
        """Note the symbol the current message is about to change (undone if it fails)."""
        self._touched = self.engine.snapshot(symbol)

    def _undo(self, mark: Savepoint, changes: Changes) -> None:
        changes.rollback(mark)
        if self._touched is not None:
            self.engine.restore(self._touched)
            self._touched = None

    @staticmethod
    def _failed(message: Message, exc: Exception) -> None:
        """A handler failed for a reason other than a bad message: the message stays unacked
        (retried once idle, dead-lettered past the delivery limit); the batch goes on."""
        log.error(
            kv(
                "message handler failed: left unacked for a retry",
                stream=message[0],
                message_id=printable(message[1], 64),
                error=printable(f"{type(exc).__name__}: {exc}", 300),
            ),
            exc_info=exc,
        )

    # --- quotes (hot path) --------------------------------------------------------------------
    def _quotes(self, quotes: list[Message], changes: Changes) -> None:
        held_get = self.engine.held_bytes.get
        known = self._known
        acks: list[Any] = []
        for message in quotes:
            msg_id, fields = message[1], message[2]
            data = fields.get(b"data")
            if isinstance(data, bytes) and len(data) > MAX_ENTRY_BYTES:
                too_big = f"entry is over {MAX_ENTRY_BYTES} bytes (data: {len(data)})"
                changes.dead(events.QUOTES_STREAM, msg_id, fields, too_big)
                continue
            symbol = quote_symbol(data) if isinstance(data, bytes) else None
            held = held_get(symbol) if symbol is not None else None
            if held is None:
                if symbol is not None and symbol in known:
                    acks.append(msg_id)
                    continue
                reason = self._unheld_problem(symbol, fields)
                if reason:
                    changes.dead(events.QUOTES_STREAM, msg_id, fields, reason)
                else:
                    if len(known) > _KNOWN_LIMIT:
                        known.clear()
                    known.add(symbol)  # type: ignore[arg-type]
                    acks.append(msg_id)
                continue
            mark = changes.savepoint()
            self._touched = self.engine.snapshot(held.position.symbol)
            try:
                data_fields = canonical_quote_data(fields)
                if data_fields is None:  # not in our bridges' form: the general reader
                    event = decode_event(fields)
                    if event.event != events.QUOTE_UPDATED:
                        raise InvalidEventError(
                            f"unexpected event on the quote stream: {event.event}"
                        )
                    data_fields = event.data
                quote = parse_quote(data_fields)
                if quote.symbol != held.position.symbol:  # two "symbol" keys: the raw read lied
                    raise InvalidEventError(f"ambiguous symbol: {symbol!r} and {quote.symbol!r}")
                self.housekeeping.saw_quote(quote.symbol)
                job = self.engine.on_quote(held, quote, changes)
            except BAD as exc:
                self._undo(mark, changes)
                changes.dead(events.QUOTES_STREAM, msg_id, fields, str(exc))
                continue
            except Exception as exc:
                self._undo(mark, changes)
                self._failed(message, exc)
                continue
            if job is not None:
                job.acks.append((events.QUOTES_STREAM, msg_id))
                if self.submit(job):
                    continue  # acked with the job's outcome
            acks.append(msg_id)
        if acks:
            changes.ack_many(events.QUOTES_STREAM, acks)

    @staticmethod
    def _unheld_problem(symbol: bytes | None, fields: dict[Any, Any]) -> str | None:
        """Why a quote for a symbol we do not hold is malformed (None: it is fine, drop it)."""
        if symbol is not None:
            try:
                text = symbol.decode()
            except UnicodeDecodeError:
                return f"unknown symbol: not text: {symbol!r}"
            return None if is_valid_symbol(text) else f"unknown symbol: {text!r}"
        try:
            event = decode_event(fields)
            symbol_of(event.data)
        except BAD as exc:
            return str(exc)
        return "symbol not found in quote data"

    # --- everything else ----------------------------------------------------------------------
    def _other(self, message: Message, changes: Changes) -> None:
        stream, msg_id, fields = message
        event = decode_event(fields)
        name = event.event
        wrong = unexpected_event(stream, name)
        if wrong is not None:
            raise InvalidEventError(wrong)
        if stream == events.SESSION_STREAM:
            if name == events.SESSION_CHANGED:
                self.housekeeping.set_session(parse_session(event.data), changes)
            changes.ack(stream, msg_id)
            return
        if stream == events.COMMANDS_STREAM:
            self._command(message, name, event.data, changes)
            return
        if stream == events.RISK_STREAM and name == events.RISK_PARAMETERS_UPDATED:
            # Only a prompt: the hashes are read again for the symbols held, whatever it names.
            self.housekeeping.request_risk_refresh()
            changes.ack(stream, msg_id)
            return
        data = event.data if isinstance(event.data, dict) else load_data(None)
        symbol = symbol_of(data)
        if self.engine.busy(symbol):
            self._deferred.setdefault(symbol, []).append(message)
            return
        self._touch(symbol)
        job: Job | None = None
        if stream == events.ORDERS_STREAM and name in REQUEST_REJECTED:
            # Which order is live now is the broker's to say: a refused cancel leaves the stop we
            # thought gone alive, a refused replace leaves the old one (or its fill). Look it up.
            self.housekeeping.request_reconcile((stream, msg_id))
            return
        if stream == events.ORDERS_STREAM:
            if name.startswith("order."):
                job = on_order_event(self.engine, name, parse_order_update(data), changes)
            changes.ack(stream, msg_id)
        elif stream == events.RISK_STREAM and name == events.TRADE_APPROVED:
            approval = parse_trade_approval(data)
            extended = approval.limit_price is not None and self.engine.session in (
                Session.PRE,
                Session.POST,
            )
            entry = SubmitEntry(
                approval.symbol,
                approval.side,
                approval.qty,
                approval.limit_price,
                extended,
                entry_order_id(approval.approval_id),
                approval.approval_id,
            )
            job = Job(approval.symbol, (entry,), "entry", acks=[(stream, msg_id)])
            log_kv(
                log,
                logging.INFO,
                "trade approved",
                symbol=approval.symbol,
                client_order_id=entry.client_order_id,
            )
        else:
            changes.ack(stream, msg_id)
        self.submit(job)

    def _command(self, message: Message, name: str, data: dict[str, Any], changes: Changes) -> None:
        stream, msg_id, _ = message
        if name == events.COMMAND_REDUCE_FOR_EARNINGS:
            symbol = symbol_of(data)
            report = parse_report_date(data.get("report_date"))
            self._touch(symbol)
            self.engine.earnings_requested[symbol] = report
            job = self.engine.earnings_job(symbol, self.housekeeping.today(), report, changes)
            if job is not None:
                job.acks.append((stream, msg_id))
                if self.submit(job):
                    return
            changes.ack(stream, msg_id)
        elif name == events.COMMAND_RECONCILE:
            self.housekeeping.request_reconcile((stream, msg_id))
        elif name == events.COMMAND_PNL_SNAPSHOT:
            self.engine.pnl_snapshot(changes, "command")
            changes.ack(stream, msg_id)
        elif name == events.COMMAND_FLATTEN:
            guard = self.housekeeping.portfolio
            cause = data.get("cause")
            if guard is not None:
                said = cause[:64] if isinstance(cause, str) and cause.isprintable() else ""
                guard.flatten(said or "command")
            changes.ack(stream, msg_id)
        else:
            raise InvalidEventError(f"unknown command: {name}")

    def release_deferred(self, symbol: str, changes: Changes) -> None:
        waiting = self._deferred.pop(symbol, None)
        if waiting:
            self.messages(waiting, changes)
