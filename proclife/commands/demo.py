"""``proclife demo``: the main job in one command: every diagram, then a quick conformance check."""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from proclife.commands.conform import render
from proclife.conformance.check import Budget, check
from proclife.conformance.repro import write_reproducer
from proclife.conformance.runner import Timing
from proclife.exits import DISAGREE, OK
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import load
from proclife.publish import DEFAULT_FORMATS, publish
from proclife.runtime.impls import resolve_impl


@dataclass(frozen=True)
class Outcome:
    """What one implementation's check sends back to the demo: plain values, so they cross processes."""

    row: tuple[str, ...]
    summary: str  # the rendered summary (ANSI), when there is more to say than the row
    exit_status: int


def _check_one(spec: str, examples: int, max_seconds: float, out: str) -> Outcome:
    """One implementation's check, in a worker process of its own."""
    model = load()
    impl = resolve_impl(spec)
    quick = Budget(examples=examples, max_seconds=max_seconds, aim="rules", random_share=0.0)  # the examples asked, no more
    report = check(model, impl, Bounds(), quick, Timing())
    report.reproducers = [str(write_reproducer(d, model.spec, Path(out))) for d in report.disagreements]
    rate = f"{report.steps / report.seconds:.0f}" if report.seconds else "-"
    verdict = {"agrees": "[green]agrees[/]", "incomplete": f"[yellow]incomplete[/] ({report.ran()})",
               "disagrees": f"[red]{len(report.disagreements)} disagreement(s)[/]"}[report.verdict]
    row = (impl.spec, verdict, str(report.steps), f"{len(report.coverage)}/{len(model.spec.rules)}",
           f"{report.seconds:.1f}", rate)
    summary = ""
    if report.verdict != "agrees" or report.unreached:
        buffer = io.StringIO()
        # a quick check aims at every rule, not every pair: the pairs it did not take are counted,
        # not listed (proclife conform, which aims at every pair, lists them)
        render(report, Console(file=buffer, force_terminal=True, highlight=False, soft_wrap=True, width=120),
               len(model.spec.rules), each_untaken=False, listing=f"proclife conform --impl {impl.spec} --json FILE")
        summary = buffer.getvalue()
    return Outcome(row, summary, report.exit_status)


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
    specs = [resolve_impl(s).spec for s in (impls or ("fork", "spawn", "forkserver"))]  # refused here if bad
    table = Table(title="conformance: real processes against the model")
    for column in ("implementation", "verdict", "steps", "rules covered", "seconds", "steps/s"):
        table.add_column(column)
    # One process per implementation, side by side (each is its runs' parent and subreaper, so
    # their processes never mix); each sends back its table row, its rendered summary, its status.
    workers = max(1, min(len(specs), os.cpu_count() or 1))
    with status.status(f"checking {', '.join(specs)} ({workers} at a time)"), \
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_check_one, specs, [examples] * len(specs), [max_seconds] * len(specs),
                                 [str(out)] * len(specs)))
    for outcome in outcomes:
        table.add_row(*outcome.row)
    console.print(table)
    for outcome in outcomes:
        if outcome.summary:
            console.print(Text.from_ansi(outcome.summary), end="")
    statuses = {o.exit_status for o in outcomes}
    # The worst verdict decides: a disagreement (1) over an incomplete run (3) over agreement (0).
    sys.exit(DISAGREE if DISAGREE in statuses else max(statuses, default=OK))
