"""`position-manager status`: is the book managed right now, and what does it hold?

Read from Redis only, never started: the worker's health hash (`pm:worker:health`: positions,
active stops, total P&L, last update, session, active management, Redis and broker
connectivity), its heartbeat, the book's state hashes and the latest alerts. Healthy means a
live worker that says so, connected to Redis and the broker, with a quote for every held symbol
within STALE_DATA_SECONDS in the regular session (`book.health.health_problems`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis
from rich.console import Console
from rich.table import Table

from app.live_table import BookView
from book.health import health_problems, heartbeat_age
from position_manager import events, redis_schema
from position_manager.config import Settings
from position_manager.local_redis import probe
from position_manager.redis_url import configured_url
from rules.params import RuleParams

HEALTH_FIELDS = (
    "status",
    "positions_count",
    "active_stops",
    "total_pnl",
    "last_update",
    "market_session",
    "active_management",
    "redis_connected",
    "alpaca_connected",
    "stale_symbols",
    "started_at",
    "updated_at",
)
ALERTS_SHOWN = 10
POSITION_FIELDS = (
    "symbol", "side", "qty", "price", "pnl", "pnl_pct", "stop", "basis", "protection",
    "last_action",
)  # fmt: skip


@dataclass
class StatusReport:
    healthy: bool
    problems: list[str]
    health: dict[str, str] = field(default_factory=dict)
    heartbeat_age_seconds: float | None = None
    session: str | None = None
    positions: list[dict[str, str]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def read_status(settings: Settings) -> StatusReport:
    url = configured_url(settings)
    try:
        unreachable = probe(url)
    except Exception as exc:  # RedisAuthError: says what, never the password
        return StatusReport(False, [str(exc)])
    if unreachable is not None:
        return StatusReport(False, [f"Redis does not answer: {unreachable}"])
    client = redis.Redis.from_url(url, socket_timeout=2.0)
    try:
        return _read(client, settings)
    finally:
        client.close()


def _read(client: redis.Redis, settings: Settings) -> StatusReport:
    health = redis_schema.text_fields(client.hgetall(redis_schema.WORKER_HEALTH_KEY))
    age = heartbeat_age(client)
    problems = health_problems(health, age)
    view = BookView(
        client,
        RuleParams.from_settings(settings),
        market_time=lambda: datetime.now(UTC),
    )
    view.poll()
    positions = [dict(zip(POSITION_FIELDS, _plain(row), strict=True)) for row in view.rows]
    alerts = []
    latest = cast(list[tuple[Any, Any]], client.xrevrange(events.ALERTS_STREAM, count=ALERTS_SHOWN))
    for entry_id, fields in latest:
        try:
            event = events.decode_event(fields)
        except Exception:
            continue
        alerts.append(
            {
                "id": redis_schema.text(entry_id),
                "event": event.event,
                "at": event.ts.isoformat(),
                "symbol": event.data.get("symbol"),
                "message": event.data.get("message"),
            }
        )
    return StatusReport(
        healthy=not problems,
        problems=problems,
        health={name: health.get(name, "") for name in HEALTH_FIELDS} if health else {},
        heartbeat_age_seconds=None if age is None else round(age, 1),
        session=redis_schema.text_or_none(client.get(redis_schema.SESSION_KEY)),
        positions=positions,
        alerts=alerts,
    )


def _plain(row: Any) -> list[str]:
    return [
        row.symbol,
        row.side,
        f"{row.qty.normalize():f}",
        "" if row.price is None else str(row.price),
        "" if row.pnl is None else f"{row.pnl:.2f}",
        "" if row.pnl_pct is None else f"{row.pnl_pct * 100:.2f}",
        "" if row.stop is None else str(row.stop),
        row.basis,
        row.protection,
        row.last_action,
    ]


def render_status(report: StatusReport, console: Console) -> None:
    verdict = "[green]healthy[/]" if report.healthy else "[red]NOT healthy[/]"
    console.print(f"position-manager: {verdict}")
    for problem in report.problems:
        console.print(f"  - {problem}")
    if report.health:
        table = Table(title="Worker health (pm:worker:health)", show_header=False)
        for name, value in report.health.items():
            table.add_row(name, value or "-")
        age = report.heartbeat_age_seconds
        table.add_row("heartbeat age", "-" if age is None else f"{age:.0f} s")
        console.print(table)
    book = Table(title="The book")
    for name in ("symbol", "side", "qty", "price", "P&L $", "P&L %", "stop", "basis",
                 "protection", "last action"):  # fmt: skip
        book.add_column(name)
    for position in report.positions:
        book.add_row(*position.values())
    console.print(book)
    if report.alerts:
        alerts = Table(title=f"Latest alerts (newest first, up to {ALERTS_SHOWN})")
        for name in ("at", "event", "symbol", "message"):
            alerts.add_column(name)
        for alert in report.alerts:
            alerts.add_row(alert["at"], alert["event"], str(alert["symbol"] or ""),
                           str(alert["message"]))  # fmt: skip
        console.print(alerts)
