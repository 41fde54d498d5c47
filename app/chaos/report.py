"""The chaos table: one row per figure, with its target and verdict, under a line saying which
code ran on which machine. The details behind any figure (which order, which symbol) go to a
file beside the run's logs, so the table stays one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.chaos.run import ChaosReport
from app.machine import code_state, machine_line


def render(report: ChaosReport, console: Console, *, code: str | None = None) -> None:
    p = report.profile
    table = Table(
        title=f"Chaos run, profile {p.name} (seed {p.seed}): {report.seconds:.0f} s",
        caption=f"code {code or code_state()}; {machine_line()}",
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    for f in report.figures:
        verdict = {"ok": "[green]ok[/]", "FAIL": "[red]FAIL[/]"}.get(f.verdict, "")
        table.add_row(f.name, f.text, f.target, verdict)
    console.print(table)
    details = write_details(report)
    verdict = (
        f"{len(report.failed)} invariant(s) failed" if report.failed else "every invariant held"
    )
    console.print(f"{verdict}; details and logs: {details}")


def write_details(report: ChaosReport) -> Path:
    path = report.workdir / "details.txt"
    lines: list[str] = []
    for f in report.figures:
        if f.details:
            lines.append(f"{f.name}: {f.text} ({f.verdict or 'reported'})")
            lines.extend(f"  - {d}" for d in f.details)
    lines.append("run:")
    lines.extend(f"  - {n}" for n in report.notes)
    path.write_text("\n".join(lines) + "\n")
    return path


def as_json(report: ChaosReport) -> list[dict[str, Any]]:
    """The figures for the benchmark table (`position-manager bench`)."""
    return [
        {
            "figure": f"chaos: {f.name}",
            "value": f.value,
            "shown": f.text,
            "target": f.target,
            "met": f.ok,
            "baseline": None,
        }
        for f in report.figures
    ]


def write_json(report: ChaosReport, path: Path) -> None:
    path.write_text(json.dumps(as_json(report), indent=1))
