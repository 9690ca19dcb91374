"""``proclife replay PATH_FILE``: run a path (from ``explore``, ``conform`` or by hand) on real processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from proclife.conformance.check import engine_for
from proclife.conformance.report import Disagreement
from proclife.conformance.repro import write_reproducer
from proclife.conformance.runner import Runner, Timing, drivable
from proclife.exits import DISAGREE, OK
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import load
from proclife.model.core.semantics import Action
from proclife.model.core.system import System
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.outputs import check_folder
from proclife.runtime.commands import check_performable
from proclife.runtime.impls import resolve_impl


def read_path(path: Path, which: int) -> list[Action]:
    """Actions from a JSON list, an ``explore --json`` violation, or a ``conform --json`` disagreement."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ModelError(f"{path} is not JSON ({exc}); write a list of {{event, pid, thread?, arg?}} objects") from None
    steps: object = data
    if isinstance(data, dict) and "violations" in data:
        found = data["violations"]
        if not found:
            raise ModelError(f"{path} has no violation to replay (the exploration held)")
        steps = found[min(which, len(found) - 1)]["path"]
    elif isinstance(data, dict) and "reports" in data:
        found = [d for r in data["reports"] for d in r["disagreements"]]
        if not found:
            raise ModelError(f"{path} has no disagreement to replay")
        chosen = found[min(which, len(found) - 1)]
        steps = [*chosen["trace"], chosen["action"]]
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "event" in s and "pid" in s for s in steps):
        raise ModelError(f"{path}: expected a list of steps, each with 'event' and 'pid'")
    return [step_action(path, number, s) for number, s in enumerate(steps, 1)]


SCALARS = (type(None), bool, int, float, str)


def step_action(path: Path, number: int, step: dict[str, object]) -> Action:
    """One step of a path file as an Action; a value the path language has no place for is refused, named."""
    where = f"{path}: step {number}"
    for key in ("pid", "thread"):
        value = step.get(key)
        if (value is not None or key == "pid") and (isinstance(value, bool) or not isinstance(value, int)):
            raise ModelError(f"{where}: {key!r} is {value!r}; give a {key} number (0, 1, ...)")
    if not isinstance(step["event"], str):
        raise ModelError(f"{where}: 'event' is {step['event']!r}; give an event name (`proclife model` lists them)")
    if not isinstance(step.get("arg"), SCALARS):
        raise ModelError(f"{where} ({step['event']}): argument {step['arg']!r} is not a value a path "
                         "can give; use null, true, false, a number or a string")
    return Action.from_json(step)


@click.command("replay")
@click.argument("path_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--impl", "impl_spec", default="fork", show_default=True, metavar="SPEC", help="The implementation to run it on.")
@click.option("--profile", "profile_name", metavar="NAME|MODULE:ATTR", help="Check against this profile (default: the implementation's).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension to the model.")
@click.option("--index", default=0, show_default=True, type=click.IntRange(0), help="Which violation or disagreement of the file.")
@click.option("--repro-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("proclife-out"), show_default=True)
@click.option("--bound", default=10.0, show_default=True, type=click.FloatRange(0.5, 600),
              help="Seconds to wait for an outcome the model predicts before calling it absent.")
def command(
    path_file: Path, impl_spec: str, profile_name: str | None, extend: tuple[str, ...], index: int, repro_dir: Path,
    bound: float,
) -> None:
    """Run the program and signal steps of a path on real processes, checking each against the model.

    Internal steps (the exit sequence's own progress, reaping) are not driven: they happen by
    themselves, and each step waits until they have.
    """
    check_folder(repro_dir, "--repro-dir")
    impl = resolve_impl(impl_spec)
    profile = resolve_profile(profile_name) if profile_name else default_profile(impl.name)
    model = load(extend, base=model_of(profile))
    check_performable(model.spec)
    engine = engine_for(model, impl)
    steps = known_events(engine, path_file, read_path(path_file, index))
    actions = [a for a in steps if engine.event(a.event).drive is not None]
    if not actions:
        raise ModelError(f"{path_file}: the path has no step to run (an empty path proves nothing); "
                         f"give a list of {{event, pid}} steps, at least one of a program or signal event")
    _check_possible(engine, actions)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"replaying {len(actions)} steps of {path_file} on {impl.spec} (profile {profile.name})")
    try:
        with Runner(engine, impl, Timing(bound=bound)) as runner:
            for number, action in enumerate(actions, 1):
                console.print(runner.step(action).line(number), markup=False)
    except Disagreement as found:
        console.print(found.explain(), markup=False)
        console.print(f"reproduce with: python {write_reproducer(found, engine.spec, repro_dir)}", markup=False)
        sys.exit(DISAGREE)
    console.print("every step agreed with the model")
    sys.exit(OK)


def known_events(engine: Engine, path: Path, actions: list[Action]) -> list[Action]:
    """The steps, once each names an event of the model: an unknown one is refused with its step."""
    for number, action in enumerate(actions, 1):
        try:
            engine.event(action.event)
        except ModelError as exc:
            raise ModelError(f"{path}: step {number}: {exc}") from None
    return actions


def _check_possible(engine: Engine, actions: list[Action]) -> None:
    """Refuse, before any process starts, a path the model itself does not allow."""
    system = System.initial()
    ok = drivable(engine)
    for number, action in enumerate(actions, 1):
        if not ok(action) or action not in set(engine.candidates(system, Bounds(99, 99, 99))):
            raise ModelError(f"step {number}, {action.describe()}: not possible in the model at that point; "
                             f"check the path file and the --extend/--profile it was made with")
        outcomes = engine.predict(system, action)
        if not outcomes:
            raise ModelError(f"step {number}, {action.describe()}: no rule of the model allows it there")
        system = outcomes[0].system
