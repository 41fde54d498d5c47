"""The `position-manager` command line: up (the main job), demo, status, worker, ui, sql, config.

Commands stay thin: each reads the settings, calls one function of the app layer and turns its
outcome into an exit code."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app import cli_help
from app.book_report import book_lines, render_book
from app.sql_output import (
    OutputFormat,
    print_table,
    run_read_only_query,
    write_csv,
    write_json,
)
from position_manager.config import Settings, load_settings
from position_manager.errors import PositionManagerError
from position_manager.logging import configure_logging
from position_manager.session import Session
from rules.params import RuleParams

HELP = """Keeps every position of an Alpaca account protected: an ATR-sized stop on each one,
trailed as the price moves your way, profit taken at +20 % and +50 %, positions halved before
earnings.

Without Alpaca keys everything runs on the embedded defaults: a local Alpaca-compatible paper
simulator, a local Redis and a DuckDB file under DATA_DIR. Settings are environment variables
(README, "Configuration"); `position-manager config` shows each one and where it came from."""

cli_help.install()  # boolean options render as flags, not `--help <bool>`
app = typer.Typer(
    add_completion=False, no_args_is_help=True, help=HELP, rich_markup_mode="markdown"
)
log = logging.getLogger("position_manager")


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
    query: str = typer.Argument(
        ...,
        metavar="QUERY",
        help="One read-only statement, quoted for the shell, e.g. 'SELECT * FROM daily_pnl'.",
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Query the demo's warehouse (data/demo/, written by `demo`)."
    ),
    output: OutputFormat = typer.Option(
        OutputFormat.TABLE,
        "--format",
        "-f",
        case_sensitive=False,
        help="table: for people (money rounded, numbers aligned, nothing cut); "
        "csv or json: every value exact, for programs.",
    ),
) -> None:
    """Query the DuckDB history, read-only.

    Views: `position_history`, `open_positions`, `closed_trades`, `daily_pnl`, `latest_atr`,
    `protection` (intervals without a live stop), `stop_gaps` (each stop fill's slippage), and
    the tables under them. One statement: SELECT, WITH, SHOW, DESCRIBE, SUMMARIZE or
    EXPLAIN. COPY, ATTACH, INSTALL, LOAD, EXPORT, SET, PRAGMA and every write are refused
    (exit 1), and the connection cannot reach files or the network."""
    settings = _settings()
    from app.embedded_run import demo_settings

    path = (demo_settings(settings) if demo else settings).warehouse_path
    if not path.exists():
        first = "position-manager demo" if demo else "./scripts/run.sh"
        typer.echo(f"no warehouse at {path} yet: run `{first}` first", err=True)
        raise typer.Exit(1)
    try:
        result = run_read_only_query(path, query)
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # duckdb's own errors: bad SQL, unknown table, refused access
        typer.echo(f"query failed: {exc}", err=True)
        raise typer.Exit(1) from None
    if output is OutputFormat.CSV:
        write_csv(result, sys.stdout)
    elif output is OutputFormat.JSON:
        write_json(result, sys.stdout)
    else:
        print_table(result, query, _console())


@app.command()
def chart(
    symbol: str = typer.Argument(..., help="the symbol, e.g. NVDA"),
    out: Path | None = typer.Option(None, "--out", help="where to write the PNG (SYMBOL.png)"),
    demo: bool = typer.Option(False, "--demo", help="the demo's warehouse"),
) -> None:
    """Write a PNG of a symbol's price, stop (coloured by its basis: atr, fallback, trailed) and
    fills over time, from the DuckDB history."""
    settings = _settings()
    from app.chart import chart as draw_chart
    from app.embedded_run import demo_settings

    path = (demo_settings(settings) if demo else settings).warehouse_path
    try:
        written, series = draw_chart(path, symbol.upper(), out)
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{written}: {len(series.prices)} prices, {len(series.stops)} stop levels, "
        f"{len(series.fills)} fills"
    )


@app.command()
def flatten(
    confirm: bool = typer.Option(
        False, "--confirm", help="really close every position (without it: only list them)"
    ),
    cause: str = typer.Option("flatten", help="why, for the events and the log"),
) -> None:
    """Close every position through the lifecycle-safe path (each stop cancelled, then one exit
    for all its shares): by the worker when it runs, otherwise here, under the symbol leases."""
    settings = _settings()
    configure_logging("WARNING")
    from app.flatten import run_flatten

    try:
        code = run_flatten(settings, confirm=confirm, cause=cause, echo=typer.echo)
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def replay(
    first: str = typer.Option(..., "--from", help="first day to replay (YYYY-MM-DD)"),
    last: str = typer.Option(..., "--to", help="last day to replay (YYYY-MM-DD, a closed day)"),
    symbols: list[str] = typer.Option(
        [], "--symbols", help="only these symbols (repeat; default: the whole book)"
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="a setting for the replay, KEY=VALUE (repeat), e.g. TRAIL_PERCENT_LARGE=0.07",
    ),
    run_id: str | None = typer.Option(None, help="the run's id (default: replay-<time>-<hex>)"),
    seed: int = typer.Option(0, help="seed of the sessions expanded from daily bars"),
    step_minutes: int = typer.Option(5, help="minutes between prices expanded from a daily bar"),
    as_json: bool = typer.Option(False, "--json", help="print the run's score as JSON"),
) -> None:
    """Replay the book through the live worker, engine and rules on a simulated clock, fed by
    the warehouse's bars (minute bars where the broker has them, else each daily bar expanded
    into a deterministic session), with the live settings and any --set; its events go into
    the warehouse under a run id (replay_runs, replay_events), never into the live history."""
    import warnings
    from datetime import date

    import dagster as dg

    # Dagster's Beta notes (its asset modules hold the risk maths) are not for the trader.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from app.replay.command import run_command

    settings = _settings()
    configure_logging("WARNING")
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        typer.echo(f"replay: {exc} (dates are YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(
        run_command(settings, first=first_day, last=last_day, symbols=symbols or None, sets=sets,
                    run_id=run_id, seed=seed, step_minutes=step_minutes, as_json=as_json)
    )  # fmt: skip


@app.command()
def worker() -> None:
    """Run the streaming worker until SIGTERM/SIGINT (simulator without keys, Alpaca with).

    Protects every position (stops, trailing, profit-taking, pre-earnings cuts) from the Redis
    streams; with ALERT_URLS it also sends alerts to a person. SIGTERM/SIGINT finish the
    batch, acknowledge it and exit 0."""
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
    """Print the broker chosen and every setting, with where its value came from.

    Secrets are masked (`**********`). Each value comes from the environment, from the `.env`
    file in the current directory (`PM_ENV_FILE` names another one; the environment wins), or
    is the default. Exits 2 with the variable named when a value is invalid."""
    settings = _settings()
    from app.config_report import config_lines

    for line in config_lines(settings):
        typer.echo(line)


@app.command()
def notify() -> None:
    """Send alerts to ALERT_URLS without a worker, until SIGTERM/SIGINT.

    The worker does this itself; run `notify` beside `ui` so that `alert.worker_down` (raised by
    Dagster while the worker is down) reaches a person. Running both never sends an alert twice."""
    settings = _settings()
    configure_logging(settings.log_level)
    from app.notify import run_notifier

    raise typer.Exit(run_notifier(settings))


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
    """Kill the worker and Redis while a scripted market plays; check every promise.

    Kills the worker (-9) and Redis at random moments and breaks the broker while a scripted
    market plays, then checks every invariant against the broker, the streams and DuckDB.
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
        [],
        "--only",
        help="run only these (listing, atr, throughput, latency, fuzz, protection, chaos)",
    ),
    chaos_profile: str = typer.Option("ci", help="the chaos profile to run (ci or full)"),
    write_readme: bool = typer.Option(
        False, "--write-readme", help="put the table and the machine into README.md"
    ),
) -> None:
    """Run every benchmark and print one table of figures against their targets.

    Runs every benchmark in benchmarks/ (short profiles) and the chaos profile, each in its own
    process; prints figure, same-run baseline, ratio, target. Exits 1 when a target is not met."""
    from app.bench import run_benchmarks

    ok = run_benchmarks(only or None, _console(), write=write_readme, chaos_profile=chaos_profile)
    raise typer.Exit(0 if ok else 1)
