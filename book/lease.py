"""One party changes a symbol's orders at a time: a Redis lease per symbol.

A lease is ``SET key token NX PX ttl``; renew and release compare the token first (Lua), so a
holder whose lease expired can never extend or delete someone else's.

Two ways to hold one:
- `SymbolLease`: taken around one order change and released after it (the reconciliation and
  earnings jobs in pipelines/, which act only while the worker is down).
- `LeaseKeeper`: the worker's standing leases. It takes the lease of every symbol it manages
  once, renews them from housekeeping (one pipelined round trip for all that are due) and
  releases them when it stops, so an order change costs no Redis round trip: before each order
  the executor checks, in process, that the lease is ours for at least `min_remaining` more
  (measured from when the take/renew was *sent*, so the local deadline is never later than
  Redis's). Only a lease that is not held or near its end costs a round trip (take or renew).
  An outside job can take a symbol's lease only when the worker is gone and its leases have
  expired (the standing TTL equals the heartbeat's, so they expire no later than the heartbeat).

A worker has a stable identity, its `owner` name (the consumer name: `PM_WORKER_NAME`, or
`worker-<hostname>`), at the front of every token. A restarted worker takes back at once the
leases its dead predecessor left (same owner, another token) instead of leaving the symbols
without a party for up to the TTL (a full exit killed between the stop's cancel and the sale
would otherwise stay without a stop that long). A lease of a different owner is respected until
it is released or expires. So two live workers must never share a name (they would share a
consumer name too).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final

import redis

from position_manager.redis_schema import SYMBOL_LEASE_KEY

DEFAULT_TTL_MS: Final = 30_000

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


# Take the lease if nobody holds it, extend it if it is already ours (same token), or take it
# back from our own previous life (a token of the same owner: ARGV[3] is "<owner>:").
_TAKE = """
local current = redis.call('get', KEYS[1])
if current == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
if current == false or string.sub(current, 1, string.len(ARGV[3])) == ARGV[3] then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""


def lease_key(symbol: str) -> str:
    return SYMBOL_LEASE_KEY.format(symbol=symbol)


class SymbolLease:
    """A lease on one symbol's orders. Not re-entrant: one `acquire` per holder.

    `owner` is a readable prefix of the token ("worker", "reconcile") so an operator looking at
    the key sees who holds it.
    """

    def __init__(
        self,
        client: redis.Redis,
        symbol: str,
        *,
        owner: str = "worker",
        ttl_ms: int = DEFAULT_TTL_MS,
    ) -> None:
        self._client = client
        self.symbol = symbol
        self.key = lease_key(symbol)
        self.ttl_ms = ttl_ms
        self.token = f"{owner}:{uuid.uuid4().hex}"
        self.held = False

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits."""
        self.held = bool(self._client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    def renew(self) -> bool:
        """Extend our lease; False if it expired and someone else (or nobody) holds it now."""
        ok = bool(self._client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        self.held = ok
        return ok

    def release(self) -> bool:
        """Delete the lease only if it is still ours."""
        if not self.held:
            return False
        self.held = False
        return bool(self._client.eval(_RELEASE, 1, self.key, self.token))

    def holder(self) -> str | None:
        value = self._client.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def __enter__(self) -> SymbolLease:
        if not self.acquire():
            raise LeaseBusyError(self.symbol, self.holder())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class LeaseBusyError(RuntimeError):
    """Another party holds the symbol's lease; try again shortly."""

    def __init__(self, symbol: str, holder: str | None) -> None:
        super().__init__(f"{symbol}: orders are being changed by {holder or 'another party'}")
        self.symbol = symbol
        self.holder = holder


STANDING_TTL_MS: Final = 15_000  # = the worker heartbeat's TTL (streaming.housekeeping)


class LeaseKeeper:
    """The worker's standing per-symbol leases (one token for all of them).

    Thread-safe: executor threads call `verify` (in-process, no I/O unless the lease is missing
    or near its end); the loop's housekeeping calls `maintain` (take what is missing, renew what
    is due, release what is no longer wanted) and `release_all` on the way out.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        owner: str = "worker",
        ttl_ms: int = STANDING_TTL_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.owner = owner.replace(":", "_")  # the token's prefix must name one owner only
        self.token = f"{self.owner}:{uuid.uuid4().hex}"
        self.ttl = ttl_ms / 1000
        self.ttl_ms = ttl_ms
        self.renew_below = self.ttl * 2 / 3  # housekeeping renews leases with less left than this
        self.min_remaining = self.ttl / 3  # an order goes out only with at least this much left
        self._clock = clock
        self._until: dict[str, float] = {}  # symbol -> local time our lease surely lasts until
        self._lock = threading.Lock()
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def holds(self, symbol: str) -> bool:
        """Ours for at least `min_remaining` more, by the in-process deadline."""
        return self._until.get(symbol, 0.0) - self._clock() >= self.min_remaining

    def verify(self, symbol: str) -> bool:
        """Before an order change: True when the lease is ours. The common case is the
        in-process check; otherwise one round trip takes (or extends) it."""
        if self.holds(symbol):
            return True
        return bool(self._round_trip({symbol: self._take}))

    @property
    def symbols(self) -> set[str]:
        return set(self._until)

    def maintain(self, wanted: Iterable[str]) -> None:
        """Housekeeping: take leases for `wanted` symbols we lack, renew those due, release
        those no longer wanted. One pipelined round trip, none when nothing is due."""
        now = self._clock()
        wanted = set(wanted)
        calls: dict[str, Any] = {}
        for symbol in wanted:
            left = self._until.get(symbol)
            if left is None or left - now < self.min_remaining:
                calls[symbol] = self._take  # missing, or renewals fell behind: take/extend
            elif left - now < self.renew_below:
                calls[symbol] = self._renew
        drop = [s for s in self._until if s not in wanted]
        if calls:
            self._round_trip(calls)
        if drop:
            self.release(drop)

    def release(self, symbols: Iterable[str]) -> None:
        symbols = list(symbols)
        with self._lock:
            for symbol in symbols:
                self._until.pop(symbol, None)
        if not symbols:
            return
        pipe = self._client.pipeline(transaction=False)
        for symbol in symbols:
            self._release(keys=[lease_key(symbol)], args=[self.token], client=pipe)
        pipe.execute()

    def release_all(self) -> None:
        self.release(list(self._until))

    def _round_trip(self, calls: dict[str, Any]) -> int:
        """Run take/renew scripts; record which leases are ours from when they were sent."""
        sent = self._clock()
        pipe = self._client.pipeline(transaction=False)
        mine = f"{self.owner}:"
        for symbol, script in calls.items():
            args: list[Any] = [self.token, self.ttl_ms]
            if script is self._take:
                args.append(mine)
            script(keys=[lease_key(symbol)], args=args, client=pipe)
        replies = pipe.execute()
        taken = 0
        with self._lock:
            for symbol, reply in zip(calls, replies, strict=True):
                if reply:
                    taken += 1
                    if self._until.get(symbol, 0.0) < sent + self.ttl:
                        self._until[symbol] = sent + self.ttl
                else:
                    self._until.pop(symbol, None)  # someone else holds it (or it expired)
        return taken
