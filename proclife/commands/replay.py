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
from proclife.conformance.runner import Runner, Timing
from proclife.exits import DISAGREE, OK
from proclife.model.core.engine import Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import load
from proclife.model.core.semantics import Action
from proclife.model.core.system import System
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.outputs import check_file, check_folder, write_text
from proclife.paths.read import read_path
from proclife.paths.walk import drivable_steps, predict_path
from proclife.runtime.commands import check_performable
from proclife.runtime.impls import resolve_impl
from proclife.runtime.observe import Snapshot


@click.command("replay")
@click.argument("path_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--impl", "impl_spec", default="fork", show_default=True, metavar="SPEC", help="The implementation to run it on.")
@click.option("--profile", "profile_name", metavar="NAME|MODULE:ATTR", help="Check against this profile (default: the implementation's).")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR", help="Apply an extension to the model.")
@click.option("--index", default=0, show_default=True, type=click.IntRange(0), help="Which violation or disagreement of the file.")
@click.option("--repro-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("proclife-out"), show_default=True)
@click.option("--bound", default=10.0, show_default=True, type=click.FloatRange(0.5, 600),
              help="Seconds to wait for an outcome the model predicts before calling it absent.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None,
              help="Write each step as it happened (observed value, rules, OS facts verified) as JSON.")
def command(
    path_file: Path, impl_spec: str, profile_name: str | None, extend: tuple[str, ...], index: int, repro_dir: Path,
    bound: float, json_file: Path | None,
) -> None:
    """Run the program and signal steps of a path on real processes, checking each against the model.

    Internal steps (the exit sequence's own progress, reaping) are not driven: they happen by
    themselves, and each step waits until they have.
    """
    check_folder(repro_dir, "--repro-dir")
    if json_file is not None:
        check_file(json_file, "--json")
    impl = resolve_impl(impl_spec)
    profile = resolve_profile(profile_name) if profile_name else default_profile(impl.name)
    model = load(extend, base=model_of(profile))
    check_performable(model.spec)
    engine = engine_for(model, impl)
    actions = drivable_steps(engine, known_events(engine, path_file, read_path(path_file, index, model.spec)))
    if not actions:
        raise ModelError(f"{path_file}: the path has no step to run (an empty path proves nothing); "
                         f"give a list of {{event, pid}} steps, at least one of a program or signal event")
    predict_path(engine, actions, str(path_file))  # refuse, before any process starts, a path the model does not allow
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"replaying {len(actions)} steps of {path_file} on {impl.spec} (profile {profile.name})")
    done: list[dict[str, object]] = []
    try:
        with Runner(engine, impl, Timing(bound=bound)) as runner:
            for number, action in enumerate(actions, 1):
                record = runner.step(action)
                facts = verified(runner.driver.observe(), runner.system)
                console.print(record.line(number), markup=False)
                console.print(f"       verified: {action.event} gave {record.observed}; {'; '.join(facts)}",
                              markup=False)
                done.append({**action.as_json(), "observed": record.observed, "rules": list(record.rules),
                             "verified": facts})
    except Disagreement as found:
        console.print(found.explain(), markup=False)
        console.print(f"reproduce with: python {write_reproducer(found, engine.spec, repro_dir)}", markup=False)
        _write(json_file, done, found.as_json())
        sys.exit(DISAGREE)
    _write(json_file, done, None)
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


def verified(snapshot: Snapshot, system: System) -> list[str]:
    """The OS facts of this step that were read and agree with the model: each process's state, exit status, SIGTERM."""
    facts = []
    for pid, proc in enumerate(system.procs):
        shown = snapshot.os.get(pid)
        if shown is None:
            continue
        fact = f"P{pid} {shown}"
        if proc.exitcode is not None and snapshot.exitcodes.get(pid) == proc.exitcode:
            fact += f" exit {proc.exitcode}"
        if (proc.running or proc.exiting) and snapshot.dispositions.get(pid) == proc.sigterm:
            fact += f" SIGTERM {proc.sigterm}"
        if snapshot.adopted.get(pid):
            fact += " adopted"
        facts.append(fact)
    return facts


def _write(json_file: Path | None, done: list[dict[str, object]], disagreement: dict[str, object] | None) -> None:
    if json_file is not None:
        write_text(json_file, json.dumps({"steps": done, "disagreement": disagreement}, indent=2), "--json")
