"""Help that helps: a real description at the top, a help text on every command and option,
and boolean options shown as flags (typer's rich panel drew `--help <bool>`)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from app.cli import app


def commands() -> dict[str, Any]:
    """Typer's commands (typer 0.29 carries its own copy of click: duck-typed here)."""
    group: Any = typer.main.get_command(app)
    return dict(group.commands)


def test_the_top_level_help_says_what_the_program_does() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "ATR-sized stop" in result.output and "position-manager config" in result.output
    assert "<bool>" not in result.output


def test_every_command_and_option_has_a_help_text() -> None:
    missing = []
    for name, command in commands().items():
        if not (command.help or "").strip():
            missing.append(name)
        for param in command.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{name} {param.param_type_name} {param.name}")
    assert missing == []


def test_boolean_options_render_as_flags() -> None:
    for name in commands():
        result = CliRunner().invoke(app, [name, "--help"], terminal_width=120)
        assert result.exit_code == 0, name
        assert "<bool>" not in result.output, name
    sql_help = CliRunner().invoke(app, ["sql", "--help"], terminal_width=120).output
    assert "--demo" in sql_help and "<table|csv|json>" in sql_help
