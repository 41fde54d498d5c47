"""Per-symbol risk parameters, read from the hashes the pipeline publishes.

One loader for both hosts (the worker and the Dagster jobs); the hash format itself is in
`position_manager.redis_schema`. A missing or broken hash reads as "no ATR, large cap, no report
date": the rules then use the fixed fallback stop, which is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import redis

from position_manager.redis_schema import RiskParams, decode_risk_hash, risk_key

__all__ = ["RiskParams", "load_risk_params", "risk_loader"]


def load_risk_params(client: redis.Redis, symbols: Iterable[str]) -> dict[str, RiskParams]:
    """One pipelined round trip for every symbol."""
    names = list(symbols)
    if not names:
        return {}
    pipe = client.pipeline(transaction=False)
    for symbol in names:
        pipe.hgetall(risk_key(symbol))
    return {s: decode_risk_hash(s, raw) for s, raw in zip(names, pipe.execute(), strict=True)}


def risk_loader(client: redis.Redis) -> Callable[[str], RiskParams]:
    """What the engine calls for a symbol it sees for the first time."""
    return lambda symbol: load_risk_params(client, [symbol])[symbol]
