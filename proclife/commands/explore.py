"""``proclife explore``: every reachable system within bounds, checked against the invariants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from proclife.exits import DISAGREE, HARNESS, OK
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import Model, load
from proclife.model.core.system import PYTHONS, START_METHODS, Config
from proclife.model.explore.explorer import Explorer, Result, Stats, Step, Violation, check_bounds
from proclife.model.explore.scopes import SCOPES, Scope, scope
from proclife.outputs import check_file, check_folder, write_text


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
    c = result.config
    lines = [
        f"model: {c.start_method}, Python {c.python[0]}.{c.python[1]}; bounds: procs={b.procs} threads={b.threads} "
        f"depth={b.depth}; scope {result.scope.name}: {result.scope.describe()}",
    ]
    if result.engine == "spin":
        lines += [
            "engine: SPIN (pan -DNOREDUCE: no partial-order reduction; no symmetry reduction)",
            f"states: {s.states:,}  transitions: {s.transitions:,}",
        ]
    else:
        lines += [
            f"symmetry reduction: {'on (counts are of representatives)' if result.symmetry else 'off'}",
            f"states: {s.states:,}  transitions: {s.transitions:,} (self-loops {s.self_loops:,})  "
            f"depth: {s.depth}  final: {s.final:,}  deadlocks: {s.deadlocks:,}",
        ]
    if s.search_seconds is not None:
        rate = s.states / s.search_seconds if s.search_seconds > 0 else 0.0
        lines.append(f"time: {s.seconds:.2f} s in all; pan's search {s.search_seconds:.2f} s ({rate:,.0f} states/s)")
    else:
        lines.append(f"time: {s.seconds:.2f} s  ({s.rate:,.0f} states/s)")
    broken = {v.invariant for v in result.violations}
    for name in result.checked:
        lines.append(f"  {'BROKEN' if name in broken else 'held  '} {name}")
    if result.engine == "spin":
        lines.append("  (SPIN excuses the declared findings where they match but does not count them; that "
                     "program actions cannot cycle is checked by the Python explorer)")
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
        out.append(f"  {'shortest path' if v.shortest else 'a path (not the shortest)'}, {len(v.path)} steps:")
        out += _path_lines(v.path)
        out += ["  last state:"] + [f"    {line}" for line in v.path[-1].system.describe().splitlines()]
    return out


def _as_json(result: Result, spin: dict[str, object] | None) -> dict[str, object]:
    s = result.stats
    return {
        "engine": result.engine, "bounds": vars(result.bounds), "scope": result.scope.name,
        "start_method": result.config.start_method, "python": ".".join(map(str, result.config.python)),
        "symmetry": result.symmetry,
        "states": s.states, "transitions": s.transitions, "self_loops": s.self_loops, "final": s.final,
        "deadlocks": s.deadlocks, "depth": s.depth, "seconds": s.seconds, "states_per_second": s.rate,
        "process_states": dict(sorted(s.lives.items())),
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
@click.option("--scope", "scope_name", default="exit", show_default=True, metavar="|".join(sorted(SCOPES)),
              help="Which actions are offered: an allow-list of events (the summary says which); an extension "
                   "may declare more scopes.")
@click.option("--start-method", type=click.Choice(list(START_METHODS)), default="fork", show_default=True,
              help="The start method the model is instantiated for.")
@click.option("--python", "python_version", metavar="X.Y", default=f"{sys.version_info[0]}.{sys.version_info[1]}",
              show_default="this interpreter's", help="The Python version whose rules apply (3.11, 3.12, 3.13).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension; repeatable.")
@click.option("--no-symmetry", is_flag=True, help="Count every system, not one per class of renamings.")
@click.option("--check", "check", type=click.Choice(["spin"]), default=None,
              help="Also verify with SPIN (symmetry off on both sides) and print both counts.")
@click.option("--engine", type=click.Choice(["python", "spin"]), default="python", show_default=True,
              help="Who explores: the Python explorer, or SPIN alone for bounds that outgrow it.")
@click.option("--max-states", default=500_000, show_default=True, type=click.IntRange(min=1),
              help="Stop (exit 3, no verdict) once the Python explorer has stored this many states.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the result as JSON.")
@click.option("--draw", "draw", type=click.Path(path_type=Path), default=None,
              help="Write pictures (state graph of small bounds, counterexample paths) into this folder.")
def command(procs: int, threads: int, depth: int, scope_name: str, start_method: str, python_version: str,
            extend: tuple[str, ...], no_symmetry: bool,
            check: str | None, engine: str, max_states: int, json_file: Path | None, draw: Path | None) -> None:
    """Explore every reachable system within bounds; check invariants and liveness."""
    if engine == "spin" and check == "spin":
        raise click.UsageError("--check spin compares the Python explorer with SPIN; with --engine spin there is "
                               "nothing to compare it with: drop one of the two")
    if json_file is not None:
        check_file(json_file, "--json")
    if draw is not None:
        check_folder(draw, "--draw")
    config = Config(start_method=start_method, python=_python(python_version))  # type: ignore[arg-type]
    model = load(extend)
    bounds = Bounds(procs, threads, depth)
    check_bounds(bounds)
    chosen = scope(scope_name, model)
    explorer: Explorer | None = None
    if engine == "spin":
        result = _spin(model, bounds, chosen, config)
    else:
        symmetry = not no_symmetry and check is None
        explorer = Explorer(model, bounds, config=config, scope=chosen, symmetry=symmetry, max_states=max_states,
                            progress=_progress if sys.stderr.isatty() else None)
        result = explorer.run()
        if explorer.progress:
            click.echo("", err=True)
    for line in _summary(result):
        click.echo(line)
    spin: Result | None = None
    if check == "spin":
        spin = _spin(model, bounds, chosen, config, optimize=result.stats.states > UNOPTIMIZED_PAN_STATES)
        same = "the same" if spin.stats.states == result.stats.states else "DIFFERENT"
        click.echo(f"spin: {spin.stats.states:,} states, {spin.stats.transitions:,} transitions, "
                   f"{len(spin.violations)} violations, {spin.stats.seconds:.2f} s; "
                   f"python: {result.stats.states:,} states ({same})")
        for v in spin.violations:
            click.echo("\n".join(_violation(v)))
    if draw is not None:
        prefix = "spin-" if result.engine == "spin" else ""
        named = [(f"{prefix}violation-{v.invariant}", v) for v in result.violations]
        named += [(f"spin-violation-{v.invariant}", v) for v in (spin.violations if spin else [])]
        _draw(explorer, named, result, draw)
    if json_file is not None:
        spin_json = None if spin is None else _as_json(spin, None)
        write_text(json_file, json.dumps(_as_json(result, spin_json), indent=2, default=repr), "--json")
    failed = bool(result.violations) or (
        spin is not None and (spin.stats.states != result.stats.states or bool(spin.violations))
    )
    sys.exit(DISAGREE if failed else OK)


def _python(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    known = ", ".join(f"{a}.{b}" for a, b in PYTHONS)
    if not (major.isdigit() and minor.isdigit()):
        raise click.BadParameter(f"{text!r}: give a version X.Y, one the model knows: {known}", param_hint="--python")
    if (int(major), int(minor)) not in PYTHONS:
        raise click.BadParameter(f"{text!r}: the model knows the rules of Python {known} only; pick one of them",
                                 param_hint="--python")
    return int(major), int(minor)


# Below this many states (the explorer's count, under --check spin), pan is compiled without
# optimization: gcc -O2 of pan.c costs 10-15 s of CPU, -O0 a quarter of that, and pan's search
# of so few states is no slower for it (the stopped example at P1 T1, 14,000 states: 28 -> 10.5 s in all).
UNOPTIMIZED_PAN_STATES = 200_000


def _spin(model: Model, bounds: Bounds, chosen: Scope, config: Config, optimize: bool = True) -> Result:
    """SPIN's run as a Result; a failure of SPIN itself is the harness's (exit 3), never a finding."""
    from proclife.model.spin.pml import as_result
    from proclife.model.spin.promela import SpinError
    from proclife.spin_runner import run_spin

    def progress(line: str) -> None:
        click.echo(f"\r  pan: {' '.join(line.split())}", err=True, nl=False)

    try:
        outcome = run_spin(model, bounds, chosen, config, progress=progress if sys.stderr.isatty() else None,
                           optimize=optimize)
        if sys.stderr.isatty():
            click.echo("", err=True)
        return as_result(model, bounds, chosen, outcome, config)
    except SpinError as exc:
        click.echo(f"proclife: spin failed: {exc}", err=True)
        sys.exit(HARNESS)


def _draw(explorer: Explorer | None, violations: list[tuple[str, Violation]], result: Result, folder: Path) -> None:
    from proclife.model.diagrams.render_runs import GraphTooBigError, path_graph, rendered, state_graph
    from proclife.publish import write_all

    files: dict[str, bytes] = {}
    if explorer is not None:
        try:
            files.update(rendered(state_graph(explorer), "states"))
        except GraphTooBigError as exc:
            click.echo(f"not drawn: {exc}", err=True)
    for stem, v in violations:
        if v.path:
            files.update(rendered(path_graph(v.path, f"violation of {v.invariant}"), stem))
    for hit in result.findings:
        files.update(rendered(path_graph(hit.path, f"finding {hit.finding.name}"), f"finding-{hit.finding.name}"))
    write_all(files, folder, "--draw")
    click.echo(f"pictures written to {folder}")
