"""The `position-manager` command line."""

from __future__ import annotations

import typer

from position_manager.config import load_settings
from position_manager.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="position-manager")


@app.command()
def run() -> None:
    """Run the main job on the configured (by default: embedded) environment."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"position-manager: broker={settings.broker_kind} data_dir={settings.data_dir}")


@app.command()
def config() -> None:
    """Print the effective configuration (secrets masked)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for name, value in settings.model_dump().items():
        typer.echo(f"{name.upper()}={value}")
