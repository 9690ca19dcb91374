"""``proclife conform``: hold the model against real processes, one implementation at a time."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from proclife.conformance.check import Budget, check, known_start_method
from proclife.conformance.coverage import UNTAKEN, painting
from proclife.conformance.report import Report
from proclife.conformance.repro import write_reproducer
from proclife.conformance.runner import Timing
from proclife.exits import DISAGREE, HARNESS, OK
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import Model, load
from proclife.model.core.spec import MACHINES
from proclife.model.diagrams.charts import chart
from proclife.model.diagrams.paint import paint
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.outputs import check_file, check_folder, write_text
from proclife.publish import render as render_chart
from proclife.publish import write_all
from proclife.runtime.commands import check_performable
from proclife.runtime.impls import resolve_impl


def render(report: Report, console: Console, total_rules: int, each_untaken: bool = True,
           listing: str = "--json") -> None:
    """The human summary: verdict, figures, coverage, each disagreement with its trace.
    ``each_untaken``: each reachable pair the run did not take on a line of its own (else counted);
    ``listing``: what lists the rules and pairs only counted here."""
    verdict = {
        "agrees": "[green]agrees with the model[/]",
        "disagrees": "[red]DISAGREES with the model[/]",
        "incomplete": "[yellow]INCOMPLETE[/]: no verdict, the run did not do all a pass needs",
    }[report.verdict]
    rate = f"{report.steps / report.seconds:.0f}" if report.seconds else "-"
    console.print(
        f"[bold]{report.impl}[/] (start method {report.start_method}, Python {report.python}, "
        f"profile {report.profile}): {verdict}"
    )
    covered = len(report.coverage)
    console.print(
        f"  {report.steps} steps in {report.runs} runs, {report.seconds:.1f}s ({rate} steps/s); "
        f"rules covered {covered}/{total_rules}; rule x consequence pairs covered {len(report.pairs)}"
        + (f"/{report.pairs_reachable} reachable" if report.directed else " (reachable ones not searched: --no-directed)")
    )
    console.print(f"  {'incomplete: ' if report.verdict == 'incomplete' else ''}{report.ran()}")
    inapplicable = [r for r, why in report.unreached.items() if why.startswith("does not apply here")]
    if inapplicable:
        console.print(f"  [dim]{len(inapplicable)} rules do not apply to this start method or Python "
                      f"(their guards rule them out; {listing} lists them)[/]")
    for rule, why in sorted(report.unreached.items()):
        if rule not in inapplicable:
            console.print(f"  [dim]not covered: {rule}: {escape(why)}[/]", highlight=False)
    render_pairs(report, console, each_untaken, listing)
    for found, script in zip(report.disagreements, report.reproducers, strict=False):
        console.print()
        console.print(found.explain(), highlight=False, markup=False)
        console.print(f"  reproduce with: python {script}", highlight=False)


def render_pairs(report: Report, console: Console, each_untaken: bool = True, listing: str = "--json") -> None:
    """The (rule, consequence) pairs not taken: each one the model reaches (``each_untaken``), the
    rest counted by reason."""
    reasons: dict[str, int] = {}
    for key, why in report.pairs_unreached.items():
        if why == UNTAKEN and each_untaken:
            console.print(f"  [dim]pair not taken: {escape(key)}: {why}[/]", highlight=False)
        else:
            group = why.split(": ")[0]
            reasons[group] = reasons.get(group, 0) + 1
    for why, n in sorted(reasons.items()):
        console.print(f"  [dim]{n} pairs not taken: {escape(why)} ({escape(listing)} lists them)[/]", highlight=False)


def coverage_drawings(report: Report, model: Model) -> dict[str, bytes]:
    """File name -> content: each life-cycle diagram painted with the run's coverage, SVG and .dot."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", report.impl)
    coverage = painting(report)
    files: dict[str, bytes] = {}
    for machine in MACHINES:
        painted = paint(chart(machine, model), coverage)
        for fmt in ("svg", "dot"):
            files[f"{stem}.{machine}.{fmt}"] = render_chart(painted, fmt)
    return files


@click.command("conform")
@click.option("--impl", "impls", multiple=True, metavar="SPEC",
              help="fork | spawn | forkserver | billiard[/method] | multiprocess[/method] | module:attr; repeatable.")
@click.option("--examples", default=20, show_default=True, type=click.IntRange(0, 100_000),
              help="Random examples after the directed phase, as many as the time allows.")
@click.option("--min-examples", default=5, show_default=True, type=click.IntRange(0, 100_000),
              help="Random examples a pass needs (at most --examples).")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(1, 1000), help="Steps per random example.")
@click.option("--max-seconds", default=300.0, show_default=True, type=click.FloatRange(1, 86_400),
              help="Wall-clock budget per implementation, the plan search included.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random phase.")
@click.option("--procs", default=2, show_default=True, type=click.IntRange(1, 4), help="Processes besides the main program.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(0, 3), help="Threads per process.")
@click.option("--depth", default=2, show_default=True, type=click.IntRange(1, 4), help="Depth of the process tree.")
@click.option("--no-directed", is_flag=True, help="Skip the directed phase (shortest paths to every rule).")
@click.option("--aim", type=click.Choice(["pairs", "rules"]), default="pairs", show_default=True,
              help="What the directed phase takes: every reachable (rule, consequence) pair, or only every rule "
                   "(the fewest of the plan's runs that take them all: a quicker check).")
@click.option("--random-share", default=0.5, show_default=True, type=click.FloatRange(0, 0.95),
              help="The least share of the executed steps the random phase gets: past --examples it goes on until "
                   "it has run this share (0.5: as many steps as the directed phase), within --max-seconds.")
@click.option("--keep-going", is_flag=True,
              help="Run the whole directed plan and report each distinct disagreement, instead of stopping at the first.")
@click.option("--profile", "profile_name", metavar="NAME|MODULE:ATTR",
              help="Check against this profile instead of each implementation's own (cpython, cpython-O, multiprocess, billiard).")
@click.option("--optimize", is_flag=True, help="Run the agents under `python -O` (default profile cpython-O).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension to the model.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the full report as JSON.")
@click.option("--draw", "draw_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Paint each run's coverage (and a disagreement's trace) on the life-cycle diagrams: SVG and .dot here.")
@click.option("--repro-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("proclife-out"),
              show_default=True, help="Where reproducing scripts are written.")
def command(
    impls: tuple[str, ...], examples: int, min_examples: int, steps: int, max_seconds: float, seed: int, procs: int,
    threads: int, depth: int, no_directed: bool, aim: str, random_share: float, keep_going: bool, profile_name: str | None, optimize: bool, extend: tuple[str, ...],
    json_out: Path | None, repro_dir: Path, draw_dir: Path | None,
) -> None:
    """Check real Process objects against the model, one implementation after another.

    \b
    Verdicts:
      exit 1  any disagreement (each with its trace and a reproducing script);
      exit 0  no disagreement, and the run is complete: the directed plan finished
              and the random phase ran at least --min-examples;
      exit 3  "incomplete" (the time ran out first, say): what ran is listed,
              and the JSON says "complete": false.
    """
    if json_out is not None:
        check_file(json_out, "--json")
    check_folder(repro_dir, "--repro-dir")
    if draw_dir is not None:
        check_folder(draw_dir, "--draw")
        if shutil.which("dot") is None:
            raise click.UsageError("--draw needs graphviz's `dot` program on PATH; install graphviz "
                                   "(apt-get install graphviz) or leave --draw out")
    resolved = [resolve_impl(spec) for spec in (impls or ("fork", "spawn", "forkserver"))]
    for impl in resolved:
        known_start_method(impl)
    chosen = resolve_profile(profile_name) if profile_name else None
    bounds = Bounds(procs, threads, depth)
    budget = Budget(examples, steps, max_seconds, seed, not no_directed, min_examples=min_examples, aim=aim,
                    first_only=not keep_going, random_share=random_share)
    console = Console(stderr=False, highlight=False, soft_wrap=True)
    status = Console(stderr=True)
    reports = []
    drawn: dict[str, bytes] = {}
    for impl in resolved:
        profile = chosen or default_profile(impl.name, optimize)
        model = load(extend, base=model_of(profile))
        check_performable(model.spec)
        with status.status(f"{impl.spec}: planning") as spinner:
            report = check(model, impl, bounds, budget, Timing(optimize=optimize), progress=spinner.update)
        report.profile = profile.name
        report.reproducers = [str(write_reproducer(found, model.spec, repro_dir)) for found in report.disagreements]
        render(report, console, len(model.spec.rules), each_untaken=aim == "pairs")  # (rules: they were not aimed at)
        reports.append(report)
        if draw_dir is not None:
            drawn.update(coverage_drawings(report, model))
    if draw_dir is not None:
        write_all(drawn, draw_dir, "--draw")
        console.print(f"coverage drawn: {len(drawn)} files in {draw_dir}")
    if json_out is not None:
        document = {"schema": "proclife.conform/1", "reports": [r.as_json() for r in reports]}
        write_text(json_out, json.dumps(document, indent=2), "--json")
    failed = [r.impl for r in reports if not r.ok]
    incomplete = [r.impl for r in reports if r.verdict == "incomplete"]
    console.print()
    if failed:
        console.print(f"[red]disagreement[/] in: {', '.join(failed)}")
        sys.exit(DISAGREE)
    if incomplete:
        console.print(f"[yellow]incomplete[/] (no verdict) for: {', '.join(incomplete)}; "
                      f"give it more --max-seconds, or fewer --min-examples")
        sys.exit(HARNESS)
    console.print(f"[green]all {len(reports)} implementation(s) agree with the model[/]")
    sys.exit(OK)
