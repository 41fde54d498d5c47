"""The ATR history sensor: a refresh with the whole ATR lookback as soon as a symbol lacks one.

The daily schedule runs at 06:30; a first start, or a symbol bought or added to WATCHLIST during
the day, would otherwise wait for it with its stop at the fixed fallback distance. Each tick reads
the held symbols (the broker: the truth even with the worker down) and WATCHLIST, and the risk
parameters in Redis (the sensor never opens DuckDB). A symbol with no risk parameters, or whose
parameters have no ATR (too few stored bars: "needs 15 consecutive clean bars, has 1"), gets one
refresh run over the whole lookback window (`pipelines.market_data.lookback`, one run for the
range), which backfills its bars; the worker then tightens its fallback stop to the ATR plan.

`run_key` is the New York date and the symbols, so one set of symbols is asked for at most once a
day: a symbol the broker has no bars for (or a listing younger than the lookback) does not
start a run every minute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final

import dagster as dg

from pipelines.common import new_york_today, now_utc
from pipelines.market_data.lookback import lookback_window, range_tags
from pipelines.resources import BrokerResource, PipelineConfigResource, RedisResource
from pipelines.risk.jobs import refresh_risk_parameters
from pipelines.sensor_common import UNAVAILABLE, held_symbols, redis_skip_reason
from position_manager.redis_schema import decode_risk_hash, risk_key

MINIMUM_INTERVAL_SECONDS: Final = 60


def symbols_without_atr(
    symbols: Iterable[str], hashes: Mapping[str, Mapping[Any, Any]]
) -> list[str]:
    """The symbols whose published risk parameters are missing or have no usable ATR."""
    out = []
    for symbol in sorted(set(symbols)):
        params = decode_risk_hash(symbol, hashes.get(symbol) or {})
        if not params.found or params.atr is None:
            out.append(symbol)
    return out


def read_risk_hashes(client: Any, symbols: list[str]) -> dict[str, Mapping[Any, Any]]:
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hgetall(risk_key(symbol))
    return dict(zip(symbols, pipe.execute(), strict=True))


def history_run_key(day: str, symbols: list[str]) -> str:
    digest = hashlib.sha256(",".join(symbols).encode()).hexdigest()[:12]
    return f"atr-history:{day}:{digest}"


@dg.sensor(
    job=refresh_risk_parameters,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Backfills the ATR lookback (one run) for held or watched symbols without an ATR.",
)
def atr_history_sensor(
    context: dg.SensorEvaluationContext,
    redis: RedisResource,
    broker: BrokerResource,
    pm_config: PipelineConfigResource,
) -> dg.SensorResult | dg.SkipReason:
    settings = pm_config.settings()
    held = held_symbols(broker)
    if isinstance(held, dg.SkipReason):
        return held
    universe = sorted({*held, *settings.watchlist})
    if not universe:
        return dg.SkipReason("Nothing is held or watched: no ATR is needed.")
    try:
        with redis.get_client() as client:
            lacking = symbols_without_atr(universe, read_risk_hashes(client, universe))
    except UNAVAILABLE as exc:
        return dg.SkipReason(redis_skip_reason(exc))
    if not lacking:
        return dg.SkipReason(f"Every held or watched symbol has an ATR ({len(universe)}).")
    today = new_york_today(now_utc())
    first, last = lookback_window(today - timedelta(days=1), settings.atr_period)
    request = dg.RunRequest(
        run_key=history_run_key(today.isoformat(), lacking),
        tags={
            **range_tags(first, last),
            "pm/trigger": "atr_history",
            "pm/symbols": ",".join(lacking)[:200],
        },
    )
    context.log.info(f"atr history backfill {first}..{last} for {','.join(lacking)}")
    return dg.SensorResult(run_requests=[request])
