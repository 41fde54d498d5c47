"""The `position-manager` command line."""

from __future__ import annotations

import logging
from decimal import Decimal

import typer
from rich.console import Console

from position_manager.book_report import book_lines, render_book
from position_manager.config import Settings, load_settings
from position_manager.errors import PositionManagerError
from position_manager.local_redis import ensure_redis
from position_manager.logging import configure_logging
from position_manager.sample_data import SAMPLE_BOOK, SAMPLE_BY_SYMBOL
from rules.model import CapClass, Position, Session, Side
from rules.order_ids import make_position_key
from rules.params import RuleParams

app = typer.Typer(add_completion=False, no_args_is_help=True, help="position-manager")
log = logging.getLogger("position_manager")


def _settings() -> Settings:
    try:
        return load_settings()
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def sample_positions(settings: Settings) -> list[Position]:
    """The demo book as rule positions, cap class from the sample market caps."""
    out = []
    for symbol, qty, entry in SAMPLE_BOOK:
        side = Side.LONG if qty > 0 else Side.SHORT
        cap = SAMPLE_BY_SYMBOL[symbol].market_cap
        out.append(
            Position(
                symbol=symbol,
                quantity=qty,
                entry_price=entry,
                original_quantity=abs(qty),
                position_key=make_position_key(symbol, side, str(entry)),
                cap_class=CapClass.MICRO if cap < settings.micro_cap_threshold else CapClass.LARGE,
            )
        )
    return out


@app.command()
def run() -> None:
    """Run the main job on the configured (by default: embedded) environment."""
    settings = _settings()
    configure_logging(settings.log_level)
    console = Console(width=None if Console().is_terminal else 150)
    try:
        _url, server = ensure_redis(settings)
    except PositionManagerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    try:
        console.print(f"broker={settings.broker_kind} redis={'embedded' if server else 'external'}")
        positions = sample_positions(settings)
        prices: dict[str, Decimal] = {p.symbol: p.entry_price for p in positions}
        lines = book_lines(
            positions, prices, {}, Session.REGULAR, RuleParams.from_settings(settings)
        )
        render_book(lines, "Sample book at entry (no ATR yet: fallback stops)", console)
    finally:
        if server is not None:
            server.stop()


@app.command()
def config() -> None:
    """Print the effective configuration (secrets masked)."""
    settings = _settings()
    for name, value in settings.model_dump().items():
        typer.echo(f"{name.upper()}={value}")
