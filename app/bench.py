"""`position-manager bench`: every benchmark in benchmarks/ on a short but meaningful profile,
plus the chaos run's CI profile, each in its own process; then one table: figure, the baseline
measured in the same run, the ratio (above 1: better than the baseline), the target and whether
it was met. `--write-readme` puts the table and the machine it came from into README.md.

Each script writes its figures with `--json PATH` (benchmarks/_figures.py); its own output goes
to a log file beside the JSON, named in the table's caption.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.machine import REPO, code_state, machine_line

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    script: str
    args: tuple[str, ...]
    better: str = "lower"  # is a lower or a higher value better than the baseline


BENCHMARKS: tuple[Bench, ...] = (
    Bench("listing", "bench_broker_listing.py", ()),
    Bench("atr", "bench_atr.py", ("--repeat", "3", "--pandas-repeat", "1")),
    # The daily refresh through Dagster at its target's size (about 30 s with the simulator).
    Bench("refresh", "bench_refresh.py", ("--symbols", "5000")),
    Bench("history", "bench_history_ingest.py", ("--events", "50000"), better="higher"),
    Bench("memory", "bench_memory.py", ("--positions", "1000", "--reconcile", "1000")),
    # 1,000 held among 5,000 quoted, every held quote through the rules.
    Bench("throughput", "bench_worker_throughput.py", ("--quotes", "200000", "--held", "1000"),
          better="higher"),
    # 1,000 order requests at 10x Alpaca's rate (33.3 orders/s, ~35 s): p99 is a percentile.
    Bench("latency", "bench_worker_latency.py",
          ("--runs", "1", "--profile", "10x", "--requests", "1000")),
    Bench("fuzz", "fuzz.py", ("--random", "300", "--seed", "11")),
    # 1,000 unprotected positions at 200 requests per 6 s (Alpaca's budget, time scaled by 10).
    Bench("protection", "bench_protection_first.py", ("--positions", "1000")),
    Bench("chaos", "chaos.py", ("--profile", "ci")),
)  # fmt: skip


def run_one(bench: Bench, outdir: Path) -> list[dict[str, Any]]:
    """Run one script in its own process; its rows, or one row saying it failed."""
    out = outdir / f"{bench.name}.json"
    log = outdir / f"{bench.name}.log"
    command = [sys.executable, str(REPO / "benchmarks" / bench.script), *bench.args]
    started = time.monotonic()
    with log.open("w") as handle:
        code = subprocess.call(
            [*command, "--json", str(out)], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT
        )
    took = time.monotonic() - started
    if not out.exists():
        failed = f"{bench.name}: did not finish (exit {code}, see {log})"
        return [
            {"figure": failed, "value": 0, "baseline": None, "target": "", "met": False,
             "shown": "-", "seconds": took}
        ]  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.read_text())
    for row in rows:
        row.setdefault("better", bench.better)
        row["seconds"] = took
    return rows


def ratio(row: dict[str, Any]) -> str:
    value, baseline = row.get("value"), row.get("baseline")
    if not baseline or not value:
        return ""
    r = baseline / value if row.get("better", "lower") == "lower" else value / baseline
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def _num(value: float, unit: str) -> str:
    if unit in ("s", "ms"):
        return f"{value:.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{value:,.0f}{f' {unit}' if unit else ''}"


def cells(row: dict[str, Any]) -> list[str]:
    unit = row.get("unit", "")
    value = row.get("shown") or _num(row["value"], unit)
    baseline = "" if row.get("baseline") is None else _num(row["baseline"], unit)
    met = {True: "met", False: "NOT met", None: ""}[row.get("met")]
    return [row["figure"], value, baseline, ratio(row), row.get("target", ""), met]


HEADERS = ("figure", "value", "same-run baseline", "ratio", "target", "")


def render(rows: list[dict[str, Any]], console: Console, caption: str) -> None:
    table = Table(title="Benchmarks (position-manager bench)", caption=caption)
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("figure", "target") else "right")
    for row in rows:
        table.add_row(*cells(row))
    console.print(table)


def markdown(rows: list[dict[str, Any]], machine: str, code: str) -> str:
    lines = [
        f"Latest `position-manager bench` (code {code}; {machine}):",
        "",
        "| " + " | ".join(h or "met" for h in HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_readme(
    block: str,
    readme: Path = REPO / "README.md",
    markers: tuple[str, str] = (README_START, README_END),
) -> None:
    """Replace what is between the README's `markers` with `block`."""
    text = readme.read_text()
    start, end = text.index(markers[0]) + len(markers[0]), text.index(markers[1])
    readme.write_text(text[:start] + "\n" + block + "\n" + text[end:])


def run_benchmarks(
    only: list[str] | None, console: Console, *, write: bool = False, chaos_profile: str = "ci"
) -> bool:
    """Run them, print the table, optionally write it into the README; True when every target
    with a verdict was met."""
    chosen = [b for b in BENCHMARKS if not only or b.name in only]
    outdir = Path(tempfile.mkdtemp(prefix="pm-bench-"))
    machine_before = machine_line()
    rows: list[dict[str, Any]] = []
    for bench in chosen:
        if bench.name == "chaos":
            chaos_args = ("--profile", chaos_profile, "--workdir", str(outdir / "chaos"))
            bench = Bench(bench.name, bench.script, chaos_args)
        console.print(f"[bold cyan]>[/] {bench.script} {' '.join(bench.args)}")
        rows += run_one(bench, outdir)
    code = code_state()
    machine = f"{machine_before} at the start"
    render(rows, console, f"code {code}; {machine}; logs in {outdir}")
    if write:
        write_readme(markdown(rows, machine, code))
        console.print("README.md: benchmark table updated")
    return all(r.get("met") is not False for r in rows)
