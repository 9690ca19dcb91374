"""``proclife demo``: the main job in one command: every diagram, then a quick conformance check."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from proclife.commands.conform import render
from proclife.conformance.check import Budget, check
from proclife.conformance.repro import write_reproducer
from proclife.conformance.runner import Timing
from proclife.exits import DISAGREE, OK
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import load
from proclife.publish import DEFAULT_FORMATS, publish
from proclife.runtime.impls import resolve_impl


@click.command("demo")
@click.option("--out", default=Path("proclife-out"), show_default=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the diagrams (under diagrams/) and any reproducing scripts.")
@click.option("--impl", "impls", multiple=True, metavar="SPEC", help="Implementations to check (default: the three start methods).")
@click.option("--examples", default=10, show_default=True, type=click.IntRange(0, 10_000), help="Random examples per implementation.")
@click.option("--max-seconds", default=120.0, show_default=True, type=click.FloatRange(1, 86_400), help="Budget per implementation.")
def command(out: Path, impls: tuple[str, ...], examples: int, max_seconds: float) -> None:
    """Render the diagrams and check the standard library's start methods against the model."""
    console = Console(highlight=False, soft_wrap=True)
    status = Console(stderr=True)
    model = load()
    written = publish(model, out / "diagrams", DEFAULT_FORMATS)
    console.print(f"[bold]diagrams[/]: {len(written)} files in {out / 'diagrams'} (svg, png, dot, mermaid)")
    resolved = [resolve_impl(s) for s in (impls or ("fork", "spawn", "forkserver"))]
    table = Table(title="conformance: real processes against the model")
    for column in ("implementation", "verdict", "steps", "rules covered", "seconds", "steps/s"):
        table.add_column(column)
    reports = []
    for impl in resolved:
        with status.status(f"{impl.spec}: planning") as spinner:
            report = check(model, impl, Bounds(), Budget(examples=examples, max_seconds=max_seconds), Timing(),
                           progress=spinner.update)
        report.reproducers = [str(write_reproducer(d, model.spec, out)) for d in report.disagreements]
        reports.append(report)
        rate = f"{report.steps / report.seconds:.0f}" if report.seconds else "-"
        verdict = {"agrees": "[green]agrees[/]", "incomplete": f"[yellow]incomplete[/] ({report.ran()})",
                   "disagrees": f"[red]{len(report.disagreements)} disagreement(s)[/]"}[report.verdict]
        table.add_row(impl.spec, verdict, str(report.steps), f"{len(report.coverage)}/{len(model.spec.rules)}",
                      f"{report.seconds:.1f}", rate)
    console.print(table)
    for report in reports:
        if report.verdict != "agrees" or report.unreached:
            render(report, console, len(model.spec.rules))
    # The worst verdict decides: a disagreement (1) over an incomplete run (3) over agreement (0).
    statuses = {r.exit_status for r in reports}
    sys.exit(DISAGREE if DISAGREE in statuses else max(statuses, default=OK))
