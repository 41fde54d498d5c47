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


def markdown(report: ChaosReport, *, code: str | None = None) -> str:
    """The table for the README (between its `chaos:start` / `chaos:end` markers)."""
    p = report.profile
    lines = [
        f"Latest `position-manager chaos` (profile {p.name}, seed {p.seed}, "
        f"{report.seconds:.0f} s; code {code or code_state()}; {machine_line()}):",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {f.name} | {f.text} | {f.target} | {f.verdict} |" for f in report.figures]
    return "\n".join(lines)


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


def bench_rows(report: ChaosReport) -> list[dict[str, Any]]:
    """The run in three rows of the benchmark table (`position-manager bench`): how many
    invariants held (and which failed), the request peak against Alpaca's budget, and the
    longest any held position went without a stop."""
    judged = [f for f in report.figures if f.ok is not None]
    failed = [f.name.split(":")[0] for f in report.failed]
    windows = [f for f in report.figures if f.name.startswith("longest unprotected window")]
    worst = max(windows, key=lambda f: f.value)
    peak = report.figure("peak requests per 60 s")
    name = f"chaos ({report.profile.name}, {report.profile.worker_kills} kills)"
    held = len(judged) - len(failed)
    return [
        {"figure": f"{name}: invariants held", "value": held, "unit": "",
         "baseline": None, "target": f"all {len(judged)}", "met": not failed,
         "shown": f"{held} of {len(judged)}"
         + (f" (failed: {', '.join(sorted(set(failed)))})" if failed else "")},
        {"figure": f"{name}: peak requests per 60 s", "value": peak.value, "unit": "requests",
         "baseline": None, "target": peak.target, "met": peak.ok, "shown": None},
        {"figure": f"{name}: longest unprotected window", "value": worst.value, "unit": "s",
         "baseline": None, "target": worst.target, "met": worst.ok,
         "shown": f"{worst.text} ({worst.name.rsplit(' ', 1)[-1]})"},
    ]  # fmt: skip


def write_json(report: ChaosReport, path: Path) -> None:
    path.write_text(json.dumps(bench_rows(report), indent=1))
