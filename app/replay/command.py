"""`position-manager replay` (and `python -m app.replay`, which the what-if asset runs): parse,
replay, print the run's score; exit 0, or 2 with the reason for a request that cannot run."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from app.replay.run import ReplayInputError, ReplayRequest, ReplayResult, parse_overrides, replay
from app.replay.start_book import NothingToReplayError
from broker.interface import Broker
from position_manager.config import BrokerKind, ConfigError, Settings, load_settings
from position_manager.errors import PositionManagerError
from position_manager.logging import configure_logging

CENT = Decimal("0.01")


def live_bars_broker(settings: Settings) -> tuple[Broker | None, str]:
    """The broker minute bars come from: Alpaca with keys, else the embedded simulator when one
    runs (`up`, `worker`); None: the warehouse's bars only."""
    from broker.factory import build_broker

    if settings.broker_kind is BrokerKind.ALPACA:
        return build_broker(settings), "alpaca"
    from simulator.embedded import simulator_answers, simulator_url

    url = simulator_url(settings)
    if not simulator_answers(url):
        return None, "simulator"
    return build_broker(settings, base_url=url), "simulator"


def quiet_dagster() -> None:
    """Dagster's Beta notes (its asset modules are imported for the risk maths) are for this
    project's developers, not for the trader reading a replay's score."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.SupersessionWarning)


def _cents(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _plain(value: Decimal) -> str:
    """A quantity as a trader writes it: 50, 2500.5 (not 50.000000 or 5E+1)."""
    return f"{value.normalize():f}"


def summary(result: ReplayResult) -> dict[str, object]:
    s = result.score
    return {
        "run_id": result.run_id,
        "days": result.days,
        "book": [
            f"{p.symbol} {_plain(p.qty)} @ {_plain(p.entry_price)} ({p.source})"
            for p in result.book
        ],
        "skipped": list(result.skipped),
        "events": result.events,
        "decisions": len(result.decisions),
        "realized_pnl": _cents(s.realized_pnl),
        "unrealized_pnl": _cents(s.unrealized_pnl),
        "worst_drawdown": _cents(s.worst_drawdown),
        "orders": s.orders,
        "longest_unprotected_s": s.longest_unprotected_s,
        "stop_outs": s.stop_outs,
        "stop_outs_recovered": s.stop_outs_recovered,
        "minute_bar_days": s.minute_bar_days,
        "daily_bar_days": s.daily_bar_days,
    }


def print_summary(console: Console, result: ReplayResult) -> None:
    table = Table(title=f"replay {result.run_id}", show_header=False)
    for key, value in summary(result).items():
        shown = "\n".join(value) if isinstance(value, list) else str(value)
        table.add_row(key, shown or "-")
    console.print(table)
    console.print(
        f"its events: SELECT * FROM replay_events WHERE run_id = '{result.run_id}' ORDER BY seq"
    )


def run_command(
    settings: Settings,
    *,
    first: date,
    last: date,
    symbols: Sequence[str] | None,
    sets: Sequence[str],
    run_id: str | None = None,
    settings_set: str | None = None,
    seed: int = 0,
    step_minutes: int = 5,
    as_json: bool = False,
    console: Console | None = None,
) -> int:
    console = console or Console()
    quiet_dagster()
    try:
        overrides = parse_overrides(sets)
        broker, source = live_bars_broker(settings)
        request = ReplayRequest(
            first=first,
            last=last,
            symbols=tuple(s.upper() for s in symbols) if symbols else None,
            overrides=overrides,
            run_id=run_id,
            settings_set=settings_set,
            seed=seed,
            step_minutes=step_minutes,
        )
        result = replay(
            settings,
            request,
            bars_broker=broker,
            bars_source=source,
            on_day=None if as_json else lambda d, n: console.print(f"  {d.date}: {n} moments"),
        )
    except (ReplayInputError, NothingToReplayError) as exc:
        console.print(f"[red]replay:[/] {exc}")
        return 2
    except PositionManagerError as exc:
        console.print(f"[red]replay failed:[/] {exc}")
        return 1
    if as_json:
        print(json.dumps(summary(result)))
    else:
        print_summary(console, result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.replay")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    parser.add_argument("--symbols", nargs="*")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--run-id")
    parser.add_argument("--settings-set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step-minutes", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging("WARNING")
    logging.getLogger("app.replay").setLevel(logging.INFO)
    return run_command(
        settings,
        first=args.first,
        last=args.last,
        symbols=args.symbols,
        sets=args.sets,
        run_id=args.run_id,
        settings_set=args.settings_set,
        seed=args.seed,
        step_minutes=args.step_minutes,
        as_json=args.json,
    )
