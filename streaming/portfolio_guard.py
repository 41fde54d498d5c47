"""The worker's portfolio-level limits and `flatten`: acting on every open position at once.

Every PORTFOLIO_CHECK_SECONDS (only when a limit is set) the account is read off the loop; its
equity against the previous close and against the highest equity seen (`PORTFOLIO_PEAK_KEY`,
shared by restarts) decides (`rules.portfolio_limits`). A limit crossed acts once per session
date and kind (`PORTFOLIO_LIMIT_KEY`, SET NX): an `alert.portfolio_limit`, then every stop
tightened or every position flattened. Flattening (a limit, or `command.flatten`) is kept in
Redis until no position is left, so a symbol busy with another order job, a session with no
exit (CLOSED), an exit that died or a restart only delay it: each tick asks again, and a
symbol whose exit is working has nothing left to sell (no second order).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date
from decimal import Decimal
from typing import Any

import redis

from book.engine import Engine
from book.executor import Job, OrderExecutor
from book.state import Changes
from broker.interface import Broker
from position_manager import events
from position_manager.broker_types import Account
from position_manager.config import Settings
from position_manager.logging import log_kv
from position_manager.redis_schema import (
    FLATTEN_KEY,
    PORTFOLIO_LIMIT_KEY,
    PORTFOLIO_PEAK_KEY,
    text,
)
from rules.portfolio_limits import LimitBreach, PortfolioLimits, find_breach, new_peak

log = logging.getLogger(__name__)


def limits_from(settings: Settings) -> PortfolioLimits:
    return PortfolioLimits(
        daily_loss_pct=settings.daily_loss_limit_pct,
        max_drawdown_pct=settings.max_drawdown_pct,
        action=settings.portfolio_limit_action,
        tighten_pct=settings.portfolio_tighten_pct,
    )


class PortfolioGuard:
    def __init__(
        self,
        engine: Engine,
        *,
        client: redis.Redis,
        broker: Broker,
        executor: OrderExecutor,
        submit: Callable[[Job | None], bool],
        today: Callable[[], date],
        limits: PortfolioLimits,
        check_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.client = client
        self.broker = broker
        self.executor = executor
        self.submit = submit
        self.today = today
        self.limits = limits
        self.check_seconds = check_seconds
        self._clock = clock
        self._last_check = -1e18
        self._account: Future[Any] | None = None
        self._tighten: set[str] = set()
        self.flattening: str | None = None  # the cause of a flatten in progress

    def load(self) -> None:
        """A flatten a previous process started carries on."""
        raw = self.client.get(FLATTEN_KEY)
        if raw:
            try:
                self.flattening = str(json.loads(text(raw)).get("cause") or "flatten")
            except ValueError:
                self.flattening = "flatten"

    def flatten(self, cause: str) -> None:
        """Close every position, from now until none is left."""
        self.flattening = cause
        self.client.set(FLATTEN_KEY, json.dumps({"cause": cause, "day": str(self.today())}))
        log_kv(log, logging.WARNING, "flattening every position", cause=cause,
               positions=len(self.engine.held))  # fmt: skip
        self._flatten_step()

    def tick(self, changes: Changes) -> None:
        self._read_account(changes)
        if self._tighten:
            for symbol in sorted(self._tighten):
                if symbol not in self.engine.held:
                    self._tighten.discard(symbol)
                elif not self.engine.busy(symbol):
                    self._tighten.discard(symbol)
                    self.submit(self.engine.tighten_job(symbol, self.limits.tighten_pct))
        if self.flattening is not None:
            self._flatten_step()

    def _flatten_step(self) -> None:
        if not self.engine.held:
            self.client.delete(FLATTEN_KEY)
            log_kv(log, logging.WARNING, "flat: no position left", cause=self.flattening)
            self.flattening = None
            return
        today = self.today()
        for symbol in sorted(self.engine.held):
            if not self.engine.busy(symbol):
                self.submit(self.engine.flatten_job(symbol, today, self.flattening or "flatten"))

    def _read_account(self, changes: Changes) -> None:
        if not self.limits.enabled:
            return
        if self._account is not None and self._account.done():
            future, self._account = self._account, None
            try:
                account = future.result()
            except Exception as exc:  # a broker error: the next check asks again
                log_kv(log, logging.WARNING, "account not read", error=type(exc).__name__)
            else:
                self._check(account, changes)
        now = self._clock()
        if self._account is None and now - self._last_check >= self.check_seconds:
            self._last_check = now
            self._account = self.executor.background(self.broker.get_account)

    def _check(self, account: Account, changes: Changes) -> None:
        raw = self.client.get(PORTFOLIO_PEAK_KEY)
        peak = Decimal(text(raw)) if raw else None
        peak_now = new_peak(peak, account.equity)
        if peak_now != peak:
            self.client.set(PORTFOLIO_PEAK_KEY, format(peak_now, "f"))
        breach = find_breach(self.limits, account.equity, account.last_equity, peak_now)
        if breach is None:
            return
        key = PORTFOLIO_LIMIT_KEY.format(day=self.today().isoformat(), kind=breach.kind)
        if not self.client.set(key, breach.message, nx=True, ex=4 * 86_400):
            return  # acted on already today
        self._act(breach, changes)

    def _act(self, breach: LimitBreach, changes: Changes) -> None:
        changes.emit(
            events.ALERT_PORTFOLIO_LIMIT,
            {
                "symbol": None,
                "kind": breach.kind,
                "message": f"{breach.message}: {self.limits.action} every position",
                "equity": breach.equity,
                "reference": breach.reference,
                "loss_pct": breach.loss_pct,
                "limit_pct": breach.limit_pct,
                "action": self.limits.action,
                "positions": len(self.engine.held),
            },
        )
        log_kv(log, logging.WARNING, "portfolio limit crossed", kind=breach.kind,
               equity=breach.equity, reference=breach.reference,
               action=self.limits.action)  # fmt: skip
        if self.limits.action == "flatten":
            self.flatten(breach.kind)
        else:
            self._tighten |= set(self.engine.held)
