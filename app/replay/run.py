"""One replay, end to end (see the package docstring and the README's "Replay and what-if").

The replay has a Redis of its own (a fresh `redis-server` on a free port, deleted after) and a
simulator of its own in this process, so nothing it does reaches the live streams, the live
state or the live broker; only its rows in the warehouse (`replay_runs`, `replay_events`, and
the `minute_bars` it fetched) remain.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import redis

from app.replay.feed import DayPlan, plan_days
from app.replay.lockstep import LockStep, Mark
from app.replay.metrics import Score, score
from app.replay.record import begin_run, decisions, event_rows, finish_run, read_streams
from app.replay.risk_as_of import risk_as_of
from app.replay.start_book import StartingPosition, held_in_history, held_today, starting_book
from broker.interface import Broker
from pipelines.lib.risk import RiskParameters
from pipelines.market_data.backfill import backfill_daily_bars
from pipelines.market_data.lookback import lookback_sessions, lookback_start
from pipelines.market_data.minute_bars import fetch_minute_bars, store_minute_bars
from position_manager.config import ConfigError, Settings, load_settings
from position_manager.local_redis import RedisServer, free_port
from position_manager.logging import log_kv
from position_manager.market_calendar import NEW_YORK, MarketDay, market_days
from warehouse.connection import connect, open_warehouse
from warehouse.tables import MINUTE_BARS

log = logging.getLogger(__name__)

LEAD_MINUTES = 10  # each day starts in the pre-market, as `up`'s market does
# Settings a replay sets itself: where its parts are, and no rate budget (a replayed minute
# lasts milliseconds; the budget is the live broker's, in real time).
REPLAY_OWNED = frozenset(
    {"BROKER", "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "DATA_DIR",
     "SIMULATOR_PORT", "ALPACA_RATE_LIMIT_PER_MINUTE", "ALPACA_API_KEY", "ALPACA_SECRET_KEY"}
)  # fmt: skip
REPLAY_RATE_LIMIT = 10_000


class ReplayInputError(ValueError):
    """A replay asked for something it cannot do; the message says what."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    first: date
    last: date
    symbols: tuple[str, ...] | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    settings_set: str | None = None
    seed: int = 0
    step_minutes: int = 5  # daily bars expanded to one price every this many minutes


@dataclass(frozen=True, slots=True)
class ReplayResult:
    run_id: str
    score: Score
    book: tuple[StartingPosition, ...]
    skipped: tuple[str, ...]  # symbols asked for that had no position to start from
    events: int
    decisions: tuple[tuple[str, str, str | None, str], ...]
    days: int


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` pairs (`--set`), upper-case names of settings; unknown names, malformed pairs
    and the settings a replay owns are refused with the reason."""
    known = {name.upper() for name in Settings.model_fields}
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().upper()
        if not sep or not key:
            raise ReplayInputError(f"--set wants KEY=VALUE, got {pair!r}")
        if key not in known:
            raise ReplayInputError(f"--set {key}: not a setting (see `position-manager config`)")
        if key in REPLAY_OWNED:
            raise ReplayInputError(f"--set {key}: a replay sets this itself")
        out[key] = value.strip()
    return out


def replay_settings(overrides: Mapping[str, str], redis_url: str, data_dir: Path) -> Settings:
    """The live settings (environment and .env) with the overrides, on the replay's parts."""
    try:
        return load_settings(
            **{k.lower(): v for k, v in overrides.items()},
            broker="simulator",
            redis_url=redis_url,
            data_dir=data_dir,
            alpaca_rate_limit_per_minute=REPLAY_RATE_LIMIT,
        )
    except ConfigError as exc:
        raise ReplayInputError(f"--set: {exc}") from None


def replay_days(first: date, last: date, today: date) -> list[MarketDay]:
    if first > last:
        raise ReplayInputError(f"--from {first} is after --to {last}")
    if last >= today:
        raise ReplayInputError(f"--to {last}: only closed days can be replayed (today is {today})")
    days = market_days(first, last)
    if not days:
        raise ReplayInputError(f"no trading day between {first} and {last}")
    return days


def fetch_missing_minutes(
    conn: duckdb.DuckDBPyConnection,
    broker: Broker,
    symbols: Sequence[str],
    days: Sequence[MarketDay],
    source: str,
) -> int:
    """Minute bars of the (day)s the warehouse has none of for `symbols`; failures fall back to
    the daily bars with a warning. Returns the bars stored."""
    stored = 0
    for day in days:
        start = datetime.combine(day.date, datetime.min.time(), NEW_YORK)
        row = conn.execute(
            f"SELECT count(*) FROM {MINUTE_BARS} WHERE symbol IN (SELECT unnest(?::VARCHAR[])) "
            "AND ts >= ? AND ts < ?",
            [list(symbols), start, start + timedelta(days=1)],
        ).fetchone()
        if row and row[0]:
            continue
        try:
            frame = fetch_minute_bars(broker, symbols, day)
        except Exception as exc:
            log_kv(
                log,
                logging.WARNING,
                "minute bars unavailable, using daily bars",
                day=day.date.isoformat(),
                error=type(exc).__name__,
                detail=str(exc)[:200],
            )
            continue
        if not frame.is_empty():
            stored += store_minute_bars(conn, frame, symbols, day, source)
    return stored


def _first_price(plans: Sequence[DayPlan]) -> Callable[[str], Decimal | None]:
    def first(symbol: str) -> Decimal | None:
        for plan in plans:
            price = plan.first_price(symbol)
            if price is not None:
                return price
        return None

    return first


def new_run_id(now: datetime) -> str:
    return f"replay-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def replay(
    settings: Settings,
    request: ReplayRequest,
    *,
    bars_broker: Broker | None = None,
    bars_source: str = "simulator",
    today: date | None = None,
    on_day: Callable[[MarketDay, int], None] | None = None,
) -> ReplayResult:
    """Replay `request` against the warehouse at `settings.warehouse_path`; `bars_broker`
    (the live broker) is asked for minute bars the warehouse lacks."""
    started = datetime.now(UTC)
    days = replay_days(request.first, request.last, today or started.astimezone(NEW_YORK).date())
    run_id = request.run_id or new_run_id(started)
    overrides = dict(request.overrides)
    with tempfile.TemporaryDirectory(prefix="pm-replay-") as tmp:
        server = RedisServer(port=free_port(), directory=Path(tmp) / "redis").start(
            appendonly=False
        )
        try:
            rsettings = replay_settings(overrides, server.url, Path(tmp))
            conn = connect(settings.warehouse_path)
            try:
                symbols, book, plans, risk = _prepare(conn, rsettings, request, days, bars_broker,
                                                      bars_source)  # fmt: skip
                begin_run(conn, run_id, settings_set=request.settings_set, overrides=overrides,
                          first_day=days[0].date, last_day=days[-1].date,
                          symbols=[p.symbol for p in book], started_at=started)  # fmt: skip
            finally:
                conn.close()  # not held while the replay runs: the pipeline may need it
            skipped = tuple(s for s in symbols if s not in {p.symbol for p in book})
            try:
                marks, recorded, orders, unrealized = _play(
                    rsettings, server.url, book, plans, risk, on_day
                )
                rows = event_rows(run_id, recorded)
                result_score = score(
                    [r[2] for r in sorted(recorded, key=lambda r: r[2].ts)],
                    marks,
                    plans,
                    orders=orders,
                    unrealized=unrealized,
                    minutes=len(marks),
                )
            except BaseException as exc:
                with open_warehouse(settings.warehouse_path) as failed:
                    finish_run(failed, run_id, event_rows(run_id, []), None,
                               finished_at=datetime.now(UTC), error=str(exc)[:500])  # fmt: skip
                raise
            with open_warehouse(settings.warehouse_path) as done:
                finish_run(done, run_id, rows, result_score, finished_at=datetime.now(UTC))
        finally:
            server.stop()
    return ReplayResult(
        run_id=run_id,
        score=result_score,
        book=tuple(book),
        skipped=skipped,
        events=rows.height,
        decisions=tuple(decisions(rows.iter_rows(named=True))),
        days=len(days),
    )


def _prepare(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    request: ReplayRequest,
    days: Sequence[MarketDay],
    bars_broker: Broker | None,
    bars_source: str,
) -> tuple[list[str], list[StartingPosition], list[DayPlan], list[list[RiskParameters]]]:
    start = days[0].open - timedelta(minutes=LEAD_MINUTES)
    symbols = sorted(
        {s.upper() for s in request.symbols}
        if request.symbols
        else set(held_in_history(conn, start)) | set(held_today(conn))
    )
    if bars_broker is not None and symbols:
        warmup = lookback_start(
            days[0].date - timedelta(days=1), lookback_sessions(settings.atr_period)
        )
        try:
            backfill_daily_bars(conn, bars_broker, symbols, warmup, days[-1].date, bars_source)
        except Exception as exc:  # the warehouse's bars are all there is
            log_kv(log, logging.WARNING, "daily bars could not be fetched", error=str(exc)[:200])
        fetch_missing_minutes(conn, bars_broker, symbols, days, bars_source)
    plans = plan_days(conn, symbols, days, seed=request.seed, step_minutes=request.step_minutes)
    book = starting_book(conn, start, _first_price(plans), symbols)
    entries = {p.symbol: float(p.entry_price) for p in book}
    risk = [
        risk_as_of(conn, entries, day.date, settings, day.open - timedelta(minutes=LEAD_MINUTES))
        for day in days
    ]
    return symbols, book, plans, risk


def _play(
    settings: Settings,
    redis_url: str,
    book: Sequence[StartingPosition],
    plans: Sequence[DayPlan],
    risk: Sequence[list[RiskParameters]],
    on_day: Callable[[MarketDay, int], None] | None,
) -> tuple[list[Mark], list[Any], int, Decimal]:
    from simulator import start_simulator

    # The worker is up a minute before the first replayed minute, as a live one already is.
    first = plans[0].day.open - timedelta(minutes=LEAD_MINUTES + 1)
    sim = start_simulator(
        redis_url=redis_url, consume_quotes=False, rate_limit=1_000_000, clock_start=first,
        clock_speed=0.0,
    )  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    step = LockStep(settings, sim, client, redis_url)
    marks: list[Mark] = []
    try:
        sim.simulator.seed_positions(
            [(p.symbol, p.qty, p.entry_price) for p in book],
            marks={p.symbol: p.entry_price for p in book},
        )
        step.start(first, risk[0])
        for i, plan in enumerate(plans):
            step.begin_day(plan.day.open - timedelta(minutes=LEAD_MINUTES), risk[i] if i else None)
            for at, prices in plan.moments:
                marks.append(step.play(at, prices))
            step.close_session(plan.day.close)
            step.close_session(plan.day.post_close)
            if on_day is not None:
                on_day(plan.day, len(plan.moments))
        step.stop()
        recorded = read_streams(client)
        with sim.simulator.engine.lock:
            orders = len(sim.simulator.engine.book.orders)
        assert step.now is not None
        return marks, recorded, orders, step.mark(step.now).unrealized
    finally:
        step.stop()
        sim.stop()
        client.close()
