"""``proclife explore``: every reachable system within bounds, checked against the invariants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from model.engine import Bounds
from model.explore import Explorer, Result, Stats, Step, Violation
from model.extend import load
from model.profiles import PROFILES, profile
from proclife.exits import DISAGREE, HARNESS, OK


def _progress(stats: Stats) -> None:
    click.echo(
        f"\r  {stats.states:>10,} states  {stats.transitions:>11,} transitions  depth {stats.depth:>3}  "
        f"{stats.seconds:6.1f} s  {stats.rate:>8,.0f} states/s",
        err=True, nl=False,
    )


def _path_lines(path: tuple[Step, ...]) -> list[str]:
    return [f"    {k:>3}. {s.action.describe():<28} {', '.join(s.rules)}" for k, s in enumerate(path, 1)]


def _summary(result: Result) -> list[str]:
    s = result.stats
    b = result.bounds
    lines = [
        f"bounds: procs={b.procs} threads={b.threads} depth={b.depth}; profile {result.profile.name}: "
        f"{result.profile.describe()}",
        f"symmetry reduction: {'on (counts are of representatives)' if result.symmetry else 'off'}",
        f"states: {s.states:,}  transitions: {s.transitions:,} (self-loops {s.self_loops:,})  "
        f"depth: {s.depth}  final: {s.final:,}  deadlocks: {s.deadlocks:,}",
        f"time: {s.seconds:.2f} s  ({s.rate:,.0f} states/s)",
    ]
    broken = {v.invariant for v in result.violations}
    for name in result.checked:
        lines.append(f"  {'BROKEN' if name in broken else 'held  '} {name}")
    for v in result.violations:
        lines += _violation(v)
    for hit in result.findings:
        f = hit.finding
        lines.append(f"finding {f.name} ({hit.count:,} states; source: {f.source}): {f.explanation}")
        lines += _path_lines(hit.path)
    return lines


def _violation(v: Violation) -> list[str]:
    out = [f"violation of {v.invariant} ({v.doc}; source: {v.source})"]
    if v.detail:
        out.append(f"  {v.detail}")
    if v.path:
        out.append(f"  shortest path, {len(v.path)} steps:")
        out += _path_lines(v.path)
        out += ["  last state:"] + [f"    {line}" for line in v.path[-1].system.describe().splitlines()]
    return out


def _as_json(result: Result, spin: dict[str, object] | None) -> dict[str, object]:
    s = result.stats
    return {
        "bounds": vars(result.bounds), "profile": result.profile.name, "symmetry": result.symmetry,
        "states": s.states, "transitions": s.transitions, "self_loops": s.self_loops, "final": s.final,
        "deadlocks": s.deadlocks, "depth": s.depth, "seconds": s.seconds, "states_per_second": s.rate,
        "checked": list(result.checked),
        "violations": [
            {"invariant": v.invariant, "source": v.source, "detail": v.detail,
             "path": [dict(st.action.as_json(), rules=list(st.rules)) for st in v.path]}
            for v in result.violations
        ],
        "findings": [{"finding": h.finding.name, "states": h.count, "source": h.finding.source}
                     for h in result.findings],
        "spin": spin,
    }


@click.command("explore")
@click.option("--procs", default=2, show_default=True, type=int, help="Processes besides the main program.")
@click.option("--threads", default=1, show_default=True, type=int, help="Threads per process.")
@click.option("--depth", default=2, show_default=True, type=int, help="Depth of the process tree.")
@click.option("--profile", "profile_name", default="lifecycle", show_default=True,
              type=click.Choice(sorted(PROFILES)), help="Which actions are taken (see the summary).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension; repeatable.")
@click.option("--no-symmetry", is_flag=True, help="Count every system, not one per class of renamings.")
@click.option("--check", "check", type=click.Choice(["spin"]), default=None,
              help="Also verify with SPIN (symmetry off on both sides) and print both counts.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the result as JSON.")
@click.option("--draw", "draw", type=click.Path(path_type=Path), default=None,
              help="Write pictures (state graph of small bounds, counterexample paths) into this folder.")
def command(procs: int, threads: int, depth: int, profile_name: str, extend: tuple[str, ...], no_symmetry: bool,
            check: str | None, json_file: Path | None, draw: Path | None) -> None:
    """Explore every reachable system within bounds; check invariants and liveness."""
    model = load(extend)
    bounds = Bounds(procs, threads, depth)
    symmetry = not no_symmetry and check is None
    explorer = Explorer(model, bounds, profile=profile(profile_name), symmetry=symmetry,
                        progress=_progress if sys.stderr.isatty() else None)
    result = explorer.run()
    if explorer.progress:
        click.echo("", err=True)
    for line in _summary(result):
        click.echo(line)
    spin: dict[str, object] | None = None
    if check == "spin":
        from model.promela import SpinError, run_spin

        try:
            outcome = run_spin(model, bounds, result.profile)
        except SpinError as exc:
            click.echo(f"proclife: spin failed: {exc}", err=True)
            sys.exit(HARNESS)
        spin = {"states": outcome.states, "transitions": outcome.transitions, "errors": outcome.errors,
                "seconds": outcome.seconds}
        same = "the same" if outcome.states == result.stats.states else "DIFFERENT"
        click.echo(f"spin: {outcome.states:,} states, {outcome.transitions:,} transitions, "
                   f"{outcome.errors} errors, {outcome.seconds:.2f} s; python: {result.stats.states:,} states ({same})")
    if draw is not None:
        _draw(explorer, result, draw)
    if json_file is not None:
        json_file.write_text(json.dumps(_as_json(result, spin), indent=2, default=repr))
    failed = bool(result.violations) or (spin is not None and (spin["states"] != result.stats.states or spin["errors"]))
    sys.exit(DISAGREE if failed else OK)


def _draw(explorer: Explorer, result: Result, folder: Path) -> None:
    from model.render_runs import GraphTooBigError, path_graph, state_graph, write

    try:
        write(state_graph(explorer), folder, "states")
    except GraphTooBigError as exc:
        click.echo(f"not drawn: {exc}", err=True)
    for v in result.violations:
        if v.path:
            write(path_graph(v.path, f"violation of {v.invariant}"), folder, f"violation-{v.invariant}")
    for hit in result.findings:
        write(path_graph(hit.path, f"finding {hit.finding.name}"), folder, f"finding-{hit.finding.name}")
    click.echo(f"pictures written to {folder}")
