"""Profiles: each implementation passes its own; every deviation is needed; billiard is not cpython."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proclife.conformance.check import engine_for
from proclife.conformance.necessity import touched, verdict
from proclife.conformance.runner import Timing
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.semantics import Action
from proclife.model.core.system import System
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, registry, resolve_profile
from proclife.runtime.impls import resolve_impl
from proclife.runtime.observe import expected_os

ROOT = Path(__file__).resolve().parent.parent
# A deviation that only shows under one start method is checked there.
WHERE = {"billiard.forkserver_signal_code": "billiard/forkserver"}
CASES = [
    (profile, deviation.id, WHERE.get(deviation.id, impl), optimize)
    for profile, impl, optimize in (("billiard", "billiard", False), ("cpython-O", "fork", True))
    for deviation in registry()[profile].deviations
]


def test_every_profile_builds_a_valid_model_with_and_without_each_deviation() -> None:
    for profile in registry().values():
        full = model_of(profile)
        for d in profile.deviations:
            assert d.source.ref, f"{d.id} has no source"
            fewer = model_of(profile, without=d.id)
            assert fewer.spec.rules != full.spec.rules, f"{d.id} changes no rule"


def test_implementations_default_to_their_own_profile() -> None:
    assert default_profile("billiard/spawn").name == "billiard"
    assert default_profile("multiprocess").name == "multiprocess"
    assert default_profile("fork").name == "cpython"
    assert default_profile("fork", optimize=True).name == "cpython-O"
    assert default_profile("mymodule:ctx").name == "cpython"


def test_unknown_profile_and_deviation_are_named_in_the_error() -> None:
    with pytest.raises(ModelError, match="unknown profile 'nope'"):
        resolve_profile("nope")
    with pytest.raises(ModelError, match="has no deviation 'x'"):
        model_of(registry()["billiard"], without="x")


@pytest.mark.parametrize(("profile", "deviation", "impl", "optimize"), CASES)
def test_every_deviation_is_needed(profile: str, deviation: str, impl: str, optimize: bool) -> None:
    """Without the deviation, the implementation disagrees with the profile on a real run."""
    p = registry()[profile]
    result = verdict(p, p.deviation(deviation), resolve_impl(impl), Timing(optimize=optimize), Bounds(2, 1, 2))
    assert result.found is not None, f"{deviation}: the implementation agrees with {profile} minus it"
    text = result.found.explain()
    assert "trace" in text


@pytest.mark.slow  # the whole directed plan (about 28 s); test_every_deviation_is_needed runs each one by default
def test_billiard_against_cpython_departs_exactly_where_its_profile_says(tmp_path: Path) -> None:
    """The directed plan's runs that take every rule (``--aim rules``), run to the end: a time limit
    that cut a run short found fewer departures under load, and the whole pairs plan outlasts the
    test's timeout."""
    out = subprocess.run(
        [sys.executable, "-m", "proclife", "conform", "--impl", "billiard", "--profile", "cpython",
         "--examples", "0", "--aim", "rules", "--keep-going", "--max-seconds", "600", "--json", str(tmp_path / "r.json"), "--repro-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    report = json.loads((tmp_path / "r.json").read_text())["reports"][0]
    assert report["profile"] == "cpython" and report["complete"], report["ran"]
    impl = resolve_impl("billiard")
    billiard = engine_for(model_of(registry()["billiard"]), impl)
    cpython = engine_for(model_of(registry()["cpython"]), impl)
    profile = registry()["billiard"]
    # A deviation whose rule ran at an earlier step (billiard's put leaves the feeder unjoined) shows at a
    # later one: it is the cause when billiard's profile without it no longer predicts the departure.
    without = {d.id: engine_for(model_of(profile, without=d.id), impl) for d in profile.deviations}
    seen: set[str] = set()
    for found in report["disagreements"]:
        rules = set(found["rules"])
        matched = {d.id for d in profile.deviations
                   if rules & {r + suffix for r in touched(d) for suffix in ("", "_atexit")}}  # 3.13 variants
        matched |= {ident for ident, engine in without.items() if not billiard_explains(engine, cpython, found)}
        assert matched, f"a departure the billiard profile does not list: {found}"
        seen |= matched
        assert billiard_explains(billiard, cpython, found), f"the billiard profile does not predict it: {found}"
    # Every deviation shows under fork, but the one checked under forkserver.
    assert seen >= {d.id for d in registry()["billiard"].deviations} - set(WHERE), seen


def billiard_explains(billiard: Engine, cpython: Engine, found: dict[str, object]) -> bool:
    """Each departure is one the billiard profile predicts: not merely one that touches a rule it lists.

    The steps before it, with what was observed, are a run of the billiard model; at the step
    itself the billiard model allows the observed result, or (when only the OS view differed:
    a kernel state or an exit code) predicts another OS view than cpython does.
    """
    ours_before, theirs_before = {System.initial()}, {System.initial()}
    for step in found["trace"]:  # type: ignore[attr-defined]
        action = Action.from_json(step)
        ours_before = {t.system for s in ours_before for t in billiard.predict(s, action)
                       if t.observed == step["observed"]}
        theirs_before = {t.system for s in theirs_before for t in cpython.predict(s, action)
                         if t.observed == step["observed"]}
        if not ours_before:
            return False
    action = Action.from_json(found["action"])  # type: ignore[arg-type]
    ours = [t for s in ours_before for t in billiard.predict(s, action)]
    theirs = [t for s in theirs_before for t in cpython.predict(s, action)]
    if found["observed"] not in {t.observed for t in theirs}:
        return found["observed"] in {t.observed for t in ours}
    # Each model along its own run: a difference an earlier step made in the state (a feeder left
    # unjoined by billiard's put) shows at this one.
    return any(os_view(t.system) not in {os_view(u.system) for u in theirs} for t in ours)


def os_view(system: System) -> tuple[tuple[int, str, int | None], ...]:
    """What the harness can see of each process: its kernel state and, once ended, its exit code."""
    states = expected_os(system)
    return tuple((pid, states[pid], proc.exitcode) for pid, proc in enumerate(system.procs))


def test_diff_prints_and_draws_the_differences(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "proclife", "diff", "cpython", "billiard", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "removed handle.kill" in out.stdout and "changed process.sys_exit_child" in out.stdout
    assert "billiard.no_kill" in out.stdout
    svg = (tmp_path / "diff-cpython-billiard.svg").read_text()
    assert "handle.kill_missing_fork" in svg
