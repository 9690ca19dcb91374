"""``proclife predict PATH_FILE``: what the model predicts at every step of a path; no process starts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from proclife.commands.explore import _python
from proclife.exits import OK
from proclife.model.core.engine import Engine
from proclife.model.core.extend import load
from proclife.model.core.system import START_METHODS, Config
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.outputs import check_file, write_text
from proclife.paths.read import read_path
from proclife.paths.walk import StepPrediction, drivable_steps, predict_path


def _lines(step: StepPrediction) -> list[str]:
    head = f"{step.number:3}. {step.action.describe()}"
    if not step.branches:
        only = step.outcomes[0]
        return [f"{head} -> {only.observed}", f"       rules: {', '.join(only.rules)}",
                *[f"       {line}" for line in only.changes()]]
    out = [f"{head}: the model branches, {len(step.outcomes)} outcomes allowed:"]
    for letter, o in zip("abcdefghijklmnopqrstuvwxyz", step.outcomes, strict=False):
        out += [f"     {letter}) -> {o.observed}", f"        rules: {', '.join(o.rules)}",
                *[f"        {line}" for line in o.changes()]]
    return out


def as_json(steps: list[StepPrediction]) -> list[dict[str, object]]:
    """Each step with its allowed outcomes: observed value, rules, and every process after it."""
    return [
        {"step": s.number, "action": s.action.as_json(), "branches": s.branches,
         "outcomes": [{"observed": o.observed, "rules": list(o.rules),
                       "processes": [dict(p._asdict(), threads=[t._asdict() for t in p.threads])
                                     for p in o.system.procs]} for o in s.outcomes]}
        for s in steps
    ]


@click.command("predict")
@click.argument("path_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--profile", "profile_name", metavar="NAME|MODULE:ATTR",
              help="Predict by this profile (default: the standard library's for the start method).")
@click.option("--start-method", type=click.Choice(list(START_METHODS)), default="fork", show_default=True)
@click.option("--python", "python_version", metavar="X.Y", default=f"{sys.version_info[0]}.{sys.version_info[1]}",
              show_default="this interpreter's", help="The Python version whose rules apply (3.11, 3.12, 3.13).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension to the model.")
@click.option("--index", default=0, show_default=True, type=click.IntRange(0), help="Which violation or disagreement of the file.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the prediction as JSON.")
def command(path_file: Path, profile_name: str | None, start_method: str, python_version: str,
            extend: tuple[str, ...], index: int, json_file: Path | None) -> None:
    """Print what the model predicts at every step of a path, and where it branches, every allowed outcome.

    No process starts. Internal steps (the exit sequence's progress, reaping) happen by
    themselves after each step, as replay waits for them.
    """
    if json_file is not None:
        check_file(json_file, "--json")
    config = Config(start_method=start_method, python=_python(python_version))  # type: ignore[arg-type]
    profile = resolve_profile(profile_name) if profile_name else default_profile(start_method)
    model = load(extend, base=model_of(profile))
    engine = Engine(model.spec, model.semantics, config)
    steps = predict_path(engine, drivable_steps(engine, read_path(path_file, index, model.spec)), str(path_file))
    click.echo(f"{path_file}: {len(steps)} steps, the model of {profile.name} under {start_method}, "
               f"Python {python_version}")
    for step in steps:
        click.echo("\n".join(_lines(step)))
    branching = sum(s.branches for s in steps)
    click.echo(f"{len(steps)} steps predicted; the model branches at {branching} of them")
    if json_file is not None:
        doc = {"path": str(path_file), "profile": profile.name, "start_method": start_method,
               "python": python_version, "steps": as_json(steps)}
        write_text(json_file, json.dumps(doc, indent=2), "--json")
    sys.exit(OK)
