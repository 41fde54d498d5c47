"""The pre-earnings sensor: held positions x next report dates -> one reduction run per report.

Held positions come from the broker (the truth, even with the worker down); report dates from the
risk parameters the pipeline publishes in Redis (the sensor never opens DuckDB); "already
reduced" from the worker's position state (`earnings_reduced_for`). A symbol reporting within
PRE_EARNINGS_DAYS gets ``RunRequest(run_key="earnings:<symbol>:<report date>")``: Dagster never
starts two runs for one key, so one report can never cause two reductions.

Nothing is requested while the session allows no reduction (pre-market, closed: the run would do
nothing and spend the key), nor on risk parameters older than `STALE_AFTER_DAYS` (the report date
may have moved); the skip reason says which symbols and why.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

import dagster as dg

from book.broker_clock import broker_today
from book.session import read_session
from pipelines.common import now_utc
from pipelines.protection.earnings_reduction import earnings_run_config, reduce_for_earnings_job
from pipelines.resources import BrokerResource, PipelineConfigResource, RedisResource
from pipelines.sensor_common import UNAVAILABLE, held_symbols, redis_skip_reason
from position_manager.redis_schema import (
    STATE_EARNINGS_REDUCED_FOR,
    decode_risk_hash,
    risk_as_of,
    risk_key,
    state_key,
    text_fields,
    text_or_none,
)
from rules.earnings import days_until_report
from rules.session_policy import policy_for

MINIMUM_INTERVAL_SECONDS: Final = 60
STALE_AFTER_DAYS: Final = 3


def read_inputs(client: Any, symbols: list[str]) -> dict[str, tuple[dict[str, str], str | None]]:
    """Per symbol: (risk parameter hash, earnings_reduced_for), one round trip."""
    pipe = client.pipeline(transaction=False)
    for symbol in symbols:
        pipe.hgetall(risk_key(symbol))
        pipe.hget(state_key(symbol), STATE_EARNINGS_REDUCED_FOR)
    replies = pipe.execute()
    out = {}
    for i, symbol in enumerate(symbols):
        raw, reduced = replies[2 * i], replies[2 * i + 1]
        out[symbol] = (text_fields(raw), text_or_none(reduced))
    return out


def _age_days(fields: dict[str, str], now: datetime) -> float | None:
    stamp = risk_as_of(fields)
    return None if stamp is None else (now - stamp).total_seconds() / 86_400


@dg.sensor(
    job=reduce_for_earnings_job,
    minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a pre-earnings reduction once per held symbol and report date.",
)
def pre_earnings_sensor(
    context: dg.SensorEvaluationContext,
    redis: RedisResource,
    broker: BrokerResource,
    pm_config: PipelineConfigResource,
) -> dg.SensorResult | dg.SkipReason:
    settings = pm_config.settings()
    now = now_utc()
    try:
        with redis.get_client() as client:
            today: date = broker_today(client)  # the worker's date: the broker's, not ours
            session = read_session(client, now)
            if not policy_for(session).reduce_for_earnings:
                return dg.SkipReason(
                    f"The market session is {session.value}: pre-earnings reductions happen in "
                    "the regular or post-market session only; checking again then."
                )
            held = held_symbols(broker)
            if isinstance(held, dg.SkipReason):
                return held
            if not held:
                return dg.SkipReason("No position is held: nothing to reduce before earnings.")
            inputs = read_inputs(client, held)
    except UNAVAILABLE as exc:
        return dg.SkipReason(redis_skip_reason(exc))
    requests: list[dg.RunRequest] = []
    missing, stale, no_date, later, done = [], [], [], [], []
    for symbol in held:
        raw, reduced = inputs[symbol]
        if not raw:
            missing.append(symbol)
            continue
        age = _age_days(raw, now)
        if age is None or age > STALE_AFTER_DAYS:
            stale.append(symbol)
            continue
        report = decode_risk_hash(symbol, raw).next_report_date
        if report is None:
            no_date.append(symbol)
            continue
        days = days_until_report(today, report)
        if not 0 <= days <= settings.pre_earnings_days:
            later.append(f"{symbol} {report} ({days}d)")
        elif reduced == report.isoformat():
            done.append(f"{symbol} {report}")
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"earnings:{symbol}:{report.isoformat()}",
                    run_config=earnings_run_config(symbol, report),
                    tags={"pm/symbol": symbol, "pm/report_date": report.isoformat()},
                )
            )
    if requests:
        return dg.SensorResult(run_requests=requests)
    window = settings.pre_earnings_days
    parts = [f"No held symbol needs a pre-earnings reduction (window {window}d)"]
    for label, names in (
        ("already reduced", done),
        ("reporting later", later),
        ("no report date", no_date),
        ("no risk parameters in Redis (run daily_risk_refresh)", missing),
        (f"risk parameters older than {STALE_AFTER_DAYS} days, not trusted", stale),
    ):
        if names:
            parts.append(f"{label}: {', '.join(names)}")
    return dg.SkipReason("; ".join(parts) + ".")
