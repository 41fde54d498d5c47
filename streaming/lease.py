"""One party changes a symbol's orders at a time: a Redis lease per symbol.

The worker takes it around every order change for a symbol; the reconciliation job (issue 6)
takes the same lease before it places or replaces a stop, so the two never race on one symbol's
orders. A lease is ``SET key token NX PX ttl``; renew and release compare the token first (Lua),
so a holder whose lease expired can never extend or delete someone else's.
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any, Final

from position_manager.events import SYMBOL_LEASE_KEY

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


def lease_key(symbol: str) -> str:
    return SYMBOL_LEASE_KEY.format(symbol=symbol)


class SymbolLease:
    """A lease on one symbol's orders. Not re-entrant: one `acquire` per holder.

    `owner` is a readable prefix of the token ("worker", "reconcile") so an operator looking at
    the key sees who holds it.
    """

    def __init__(
        self, client: Any, symbol: str, *, owner: str = "worker", ttl_ms: int = DEFAULT_TTL_MS
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
