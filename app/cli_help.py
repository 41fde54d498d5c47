"""How `--help` looks: boolean options render as flags.

Typer's rich help panel shows a type for every option, `<bool>` included (`--help <bool>`,
`--demo <bool>`), although a flag takes no value; its plain-text help does not (typer 0.29,
`TyperOption.display_type_rich`). `install()` makes the rich panel agree: no type for flags and
counters. Idempotent; if typer changes the method, help simply looks as typer draws it.
"""

from __future__ import annotations

from typing import Any

from typer import core

_PATCHED = "_position_manager_flag_patch"


def install() -> None:
    original = getattr(core.TyperOption, "display_type_rich", None)
    if original is None or getattr(original, _PATCHED, False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        result: str | None = original(self, ctx)
        return result

    setattr(display_type_rich, _PATCHED, True)
    core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
