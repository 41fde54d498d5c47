"""The `position-manager` command line: up (the main job), demo, status, worker, ui, sql, config.

Commands stay thin: each reads the settings, calls one function of the app layer and turns its
outcome into an exit code."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.book_report import book_lines, render_book
from position_manager.config import Settings, load_settings
from position_manager.errors import PositionManagerError
from position_manager.logging import configure_logging
from position_manager.session import Session
from rules.params import RuleParams

app = typer.Typer(add_completion=False, no_args_is_help=True, help="position-manager")
log = logging.getLogger("position_manager")
REPO = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    try:
        return load_settings()
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _console() -> Console:
    probe = Console()
    return probe if probe.is_terminal else Console(width=150)


@app.command()
def up(
    speed: float = typer.Option(
        60.0, min=0.1, help="simulated seconds per real second (60: a trading day in 6.5 min)"
    ),
    seed: int = typer.Option(0, help="seed of the simulated market's price paths"),
    for_seconds: float | None = typer.Option(
        None, "--for", min=0.0, help="stop by itself after this many seconds"
    ),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="the Dagster webserver and daemon"),
    port: int = typer.Option(3000, help="port for the Dagster UI on 127.0.0.1"),
    live: bool = typer.Option(
        True, "--live/--no-live", help="the live table (without: one line per decision)"
    ),
) -> None:
    """The whole system until Ctrl-C: Redis, the simulator with a moving market (or Alpaca with
    keys), the worker and the Dagster UI + daemon, with a live table of the book."""
    from app.up import Up, UpOptions

    settings = _settings()
    options = UpOptions(speed=speed, seed=seed, seconds=for_seconds, ui=ui, port=port, live=live)
    raise typer.Exit(Up(settings, options, _console()).run())


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Health of the worker and the book (exit 1 when not healthy): positions, active stops,
    total P&L, last update, session, management, Redis and broker connectivity, alerts."""
    import json

    from app.status import read_status, render_status

    report = read_status(_settings())
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        render_status(report, _console())
    raise typer.Exit(0 if report.healthy else 1)


@app.command()
def demo(
    resume: bool = typer.Option(
        False, "--resume", help="continue from the previous run's state instead of starting over"
    ),
) -> None:
    """The scripted story, once, in about ten seconds: simulator, its own Redis, DuckDB, sample
    data; trailing, profit-taking, a stop hit, a short, the history in DuckDB."""
    warnings.filterwarnings("ignore", module="dagster")
    settings = _settings()
    configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    console = _console()
    if settings.has_alpaca_keys:
        console.print(
            "Alpaca keys are set: `demo` is the embedded story and never trades your account.\n"
            "Use `position-manager up` to manage the account (worker, Dagster UI, live table)."
        )
        raise typer.Exit(2)
    from app.embedded_run import reset_data, run_embedded

    if not resume:
        reset_data(settings)
    try:
        report, _broker, _client, stop = run_embedded(
            settings, progress=lambda msg: console.print(f"[bold cyan]>[/] {msg}")
        )
    except PositionManagerError as exc:
        console.print(f"[red]failed:[/] {exc}")
        raise typer.Exit(1) from None
    try:
        s = report.startup
        console.print(
            f"simulated session: {report.demo_time:%Y-%m-%d %H:%M} UTC (regular hours); "
            f"{report.materialized_assets} asset materializations\nstartup scan: "
            f"{s.positions} positions, {s.protected} already protected, "
            f"{len(s.stops_to_place)} stops placed, {len(s.stops_to_resize)} resized"
        )
        lines = book_lines(
            report.positions,
            report.prices,
            report.atrs,
            Session.REGULAR,
            RuleParams.from_settings(settings),
        )
        render_book(lines, "The book after the session (worker state)", console)
        _print_events(console, report.events_by_name, report.quotes_published)
        assert report.warehouse_path is not None
        _print_closed_trades(console, report.warehouse_path)
        console.print(
            f"{report.history_rows} event rows ingested into {report.warehouse_path}; try:\n"
            "  .venv/bin/position-manager sql --demo 'SELECT * FROM closed_trades'\n"
            "  .venv/bin/position-manager ui   # Dagster UI: this demo's run, assets and checks\n"
            "  .venv/bin/position-manager up   # the whole system, running, with a live table"
        )
    finally:
        stop()


@app.command("run", hidden=True)
def run(
    resume: bool = typer.Option(False, "--resume", help="see `demo`"),
) -> None:
    """The former name of `demo`."""
    demo(resume)


def _print_events(console: Console, counts: dict[str, int], quotes: int) -> None:
    table = Table(title=f"Events on the Redis streams ({quotes} quotes replayed)")
    table.add_column("event")
    table.add_column("count", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    console.print(table)


def _print_closed_trades(console: Console, warehouse_path: Path) -> None:
    from warehouse.connection import open_warehouse

    with open_warehouse(warehouse_path, read_only=True) as conn:
        _print_query(
            console,
            conn,
            "SELECT symbol, side, CAST(entry_price AS DOUBLE) AS entry, "
            "CAST(exited_qty AS DOUBLE) AS shares, "
            "CAST(round(realized_pnl, 2) AS DECIMAL(18, 2)) AS realized_pnl "
            "FROM closed_trades ORDER BY closed_at",
            "Closed trades (realized P&L)",
        )


def _print_query(console: Console, conn: object, sql: str, title: str) -> None:
    cursor = conn.execute(sql)  # type: ignore[attr-defined]
    table = Table(title=title)
    for column in cursor.description:
        table.add_column(str(column[0]))
    for row in cursor.fetchall():
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL, e.g. 'SELECT * FROM daily_pnl'"),
    demo: bool = typer.Option(False, "--demo", help="the `demo` command's warehouse"),
) -> None:
    """Query the DuckDB history read-only (views: position_history, open_positions,
    closed_trades, daily_pnl, latest_atr)."""
    settings = _settings()
    from app.embedded_run import demo_settings
    from warehouse.connection import open_warehouse

    path = (demo_settings(settings) if demo else settings).warehouse_path
    if not path.exists():
        first = "position-manager demo" if demo else "./scripts/run.sh"
        typer.echo(f"no warehouse at {path} yet: run `{first}` first", err=True)
        raise typer.Exit(1)
    try:
        with open_warehouse(path, read_only=True) as conn:
            _print_query(_console(), conn, query, query)
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # duckdb's own errors: bad SQL, missing file
        typer.echo(f"query failed: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def worker() -> None:
    """Run the streaming worker until SIGTERM/SIGINT (simulator without keys, Alpaca with)."""
    from app.worker import main

    raise typer.Exit(main())


@app.command()
def ui(port: int = typer.Option(3000, help="port for the Dagster UI on 127.0.0.1")) -> None:
    """Start the Dagster UI and daemon (`dagster dev`) on this project's code location.

    On the embedded defaults it first makes sure the shared Redis and simulator are up (the
    worker's, if it runs), so schedules and sensors act on the same book as the worker.
    Ctrl-C or SIGTERM stops Dagster, then the simulator, then Redis: nothing keeps running."""
    from app.dagster_ui import run_ui

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        raise typer.Exit(run_ui(settings, port))
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def config() -> None:
    """Print the effective configuration (secrets masked)."""
    settings = _settings()
    for name, value in settings.model_dump().items():
        typer.echo(f"{name.upper()}={value}")


@app.command()
def chaos(
    profile: str = typer.Option("full", help="full (22 kills, ~4 min) or ci (3 kills, < 1 min)"),
    kills: int | None = typer.Option(None, help="worker kills (default: the profile's)"),
    seconds: float | None = typer.Option(None, help="how long the scripted market plays"),
    seed: int | None = typer.Option(None, help="random seed for kill moments and delays"),
    workdir: Path | None = typer.Option(None, help="where logs, AOF and warehouse go"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the figures as JSON"),
    write_readme: bool = typer.Option(
        False, "--write-readme", help="put the table and the machine into README.md"
    ),
) -> None:
    """Kill the worker (-9) and Redis at random moments and break the broker while a scripted
    market plays, then check every invariant against the broker, the streams and DuckDB.
    Prints one table; exits 1 when an invariant fails."""
    warnings.filterwarnings("ignore", module="dagster")
    configure_logging("WARNING")
    from app.chaos.profile import PROFILES
    from app.chaos.report import render, write_json
    from app.chaos.run import run_chaos

    if profile not in PROFILES:
        typer.echo(f"unknown profile {profile!r}: one of {', '.join(PROFILES)}", err=True)
        raise typer.Exit(2)
    chosen = PROFILES[profile].with_changes(worker_kills=kills, market_seconds=seconds, seed=seed)
    console = _console()
    report = run_chaos(chosen, workdir, progress=lambda m: console.print(f"[bold cyan]>[/] {m}"))
    render(report, console)
    if json_out is not None:
        write_json(report, json_out)
    if write_readme:
        from app.bench import write_readme as write_block
        from app.chaos.report import markdown

        write_block(markdown(report), markers=("<!-- chaos:start -->", "<!-- chaos:end -->"))
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def bench(
    only: list[str] = typer.Option(
        [], "--only", help="run only these (listing, atr, throughput, latency, fuzz, chaos)"
    ),
    chaos_profile: str = typer.Option("ci", help="the chaos profile to run (ci or full)"),
    write_readme: bool = typer.Option(
        False, "--write-readme", help="put the table and the machine into README.md"
    ),
) -> None:
    """Run every benchmark in benchmarks/ (short profiles) and the chaos profile; print one
    table: figure, same-run baseline, ratio, target. Exits 1 when a target is not met."""
    from app.bench import run_benchmarks

    ok = run_benchmarks(only or None, _console(), write=write_readme, chaos_profile=chaos_profile)
    raise typer.Exit(0 if ok else 1)
