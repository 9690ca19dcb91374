"""The explorer: invariants on the base model, a wrong model caught, symmetry reduction sound."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

from examples.early_exit import EXTENSION as EARLY_EXIT
from examples.excepthook import EXTENSION as ATEXIT
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import Extension, base_model, load
from proclife.model.core.system import ProcState, System, ThreadState
from proclife.model.explore.explorer import BoundsError, Explorer, StateLimitError
from proclife.model.explore.invariants import closed_rules_ok
from proclife.model.explore.scopes import EXIT, FULL, LIFECYCLE, SMALL
from proclife.model.explore.symmetry import canonical


@pytest.mark.heavy
@pytest.mark.parametrize(("bounds", "chosen"), [
    (Bounds(1, 0, 2), LIFECYCLE), (Bounds(0, 2, 1), FULL), (Bounds(1, 1, 2), EXIT), (Bounds(2, 0, 2), SMALL),
    pytest.param(Bounds(1, 1, 2), SMALL, marks=pytest.mark.slow),  # about 50 s since the scopes offer queues
])
def test_invariants_hold_on_the_base_model(bounds: Bounds, chosen: object) -> None:
    result = Explorer(base_model(), bounds, scope=chosen).run()  # type: ignore[arg-type]
    assert result.ok, [v.invariant for v in result.violations]
    assert result.stats.states > 1 and result.stats.deadlocks == 0


def test_closed_handle_rules_are_inert() -> None:
    assert closed_rules_ok(base_model().spec) == []


@pytest.mark.heavy
def test_early_exit_is_caught_with_the_shortest_path() -> None:
    result = Explorer(load([EARLY_EXIT]), Bounds(1, 1, 2), scope=EXIT).run()
    (v,) = result.violations
    assert v.invariant == "exit_sequence_joined"
    assert [s.action.event for s in v.path] == [
        "create_child", "start", "create_thread", "thread_start", "target_return", "proceed", "proceed", "proceed",
    ]
    assert v.path[-1].system.procs[1].terminated


def test_the_atexit_extension_adds_states_and_keeps_invariants() -> None:
    base = Explorer(base_model(), Bounds(1, 0, 2), scope=SMALL).run()
    ext = Explorer(load([ATEXIT]), Bounds(1, 0, 2), scope=SMALL).run()
    assert ext.ok and ext.stats.states > base.stats.states


@pytest.mark.parametrize("model", [base_model(), load([EARLY_EXIT])])
def test_symmetry_keeps_the_verdict_and_reduces_the_count(model: object) -> None:
    # Two children make symmetric systems; the exit scope keeps it to 2,326 states (small: 26,305).
    runs = [Explorer(model, Bounds(2, 0, 2), scope=EXIT, symmetry=s).run() for s in (True, False)]  # type: ignore[arg-type]
    reduced, full = runs
    assert reduced.stats.states < full.stats.states
    assert [v.invariant for v in reduced.violations] == [v.invariant for v in full.violations]
    assert [len(v.path) for v in reduced.violations] == [len(v.path) for v in full.violations]


def test_canonical_renumbers_parents_consistently() -> None:
    a = System((
        ProcState(None, False, "running.runnable", None),
        ProcState(0, False, "running.runnable", "started", (ThreadState(True), ThreadState(False))),
        ProcState(0, True, "new"),
        ProcState(1, False, "new"),
    ))
    c = canonical(a)
    assert sorted(c.procs[i].parent or 0 for i in range(4)) == sorted(p.parent or 0 for p in a.procs)
    grandchild = next(i for i, p in enumerate(c.procs) if p.parent not in (None, 0))
    assert c.procs[c.procs[grandchild].parent].handle == "started"  # type: ignore[index]
    assert canonical(c) == c


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(BoundsError, match="depth >= 1"):
        Explorer(base_model(), Bounds(1, 1, 0))


@pytest.mark.parametrize(("args", "status"), [
    (["--procs", "1", "--threads", "0", "--scope", "small"], 0),
    (["--procs", "1", "--threads", "1", "--scope", "exit", "--extend", "examples.early_exit:EXTENSION"], 1),
    (["--procs", "-1"], 2),
    (["--procs", "1", "--extend", "examples.early_exit:NOPE"], 2),
    (["--procs", "1", "--engine", "spin", "--check", "spin"], 2),
    (["--procs", "-1", "--engine", "spin"], 2),
    (["--procs", "3", "--threads", "2", "--max-states", "5000"], 3),
    (["--max-states", "0"], 2),
])
def test_cli_exit_statuses(args: list[str], status: int) -> None:
    from proclife.cli import main

    result = CliRunner().invoke(main, ["explore", *args])
    assert result.exit_code == status, result.output
    if status == 1:
        # 3.11/3.12 children join their threads last; from 3.13 first, so the skipped join comes sooner.
        steps = 8 if sys.version_info < (3, 13) else 6
        assert "violation of exit_sequence_joined" in result.output and f"shortest path, {steps} steps" in result.output
    if status == 3:
        assert "state limit, 5,000 states" in result.output and "no verdict" in result.output


def test_cli_draws_and_writes_json(tmp_path: object) -> None:
    from pathlib import Path

    from proclife.cli import main

    out = Path(str(tmp_path))
    args = ["explore", "--procs", "1", "--threads", "1", "--scope", "exit", "--extend",
            "examples.early_exit:EXTENSION", "--json", str(out / "r.json"), "--draw", str(out / "pics")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (out / "r.json").exists() and (out / "pics" / "violation-exit_sequence_joined.svg").exists()


@pytest.mark.heavy
@pytest.mark.tools("spin", "gcc")
def test_cli_spin_engine_gives_a_replayable_path(tmp_path: object) -> None:
    from pathlib import Path

    from proclife.cli import main
    from proclife.model.core.semantics import Action

    out = Path(str(tmp_path))
    args = ["explore", "--procs", "1", "--threads", "1", "--scope", "exit", "--engine", "spin", "--extend",
            "examples.early_exit:EXTENSION", "--json", str(out / "r.json"), "--draw", str(out / "pics")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "engine: SPIN" in result.output and "BROKEN exit_sequence_joined" in result.output
    assert (out / "pics" / "spin-violation-exit_sequence_joined.svg").exists()
    data = json.loads((out / "r.json").read_text())
    assert data["engine"] == "spin"
    (violation,) = data["violations"]
    steps = [Action.from_json(step) for step in violation["path"]]
    ours = Explorer(load([EARLY_EXIT]), Bounds(1, 1, 2), scope=EXIT).run().violations[0]
    assert len(steps) >= len(ours.path) and steps[-1].event == "proceed"
    # Replayed on real processes: CPython agrees with the base model along it, and not with the extension.
    replay = [sys.executable, "-m", "proclife", "replay", str(out / "r.json"), "--impl", "fork", "--bound", "2"]
    base = subprocess.run(replay, capture_output=True, text=True, timeout=300)
    assert base.returncode == 0 and "every step agreed" in base.stdout, base.stdout + base.stderr
    broken = subprocess.run([*replay, "--extend", "examples.early_exit:EXTENSION", "--repro-dir", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "the OS shows alive" in broken.stdout, broken.stdout  # the child still joins its thread


def _thread_release_to(dst: str) -> Extension:
    rule = replace(base_model().spec.rule("thread.release"), dst=dst)
    return Extension(name=f"release_to_{dst}", doc="a released thread goes elsewhere", rules=(rule,))


def test_a_state_program_actions_cannot_leave_breaks_liveness() -> None:
    no_release = Extension(name="no_release", doc="nothing releases a blocked thread", remove=("thread.release",))
    result = Explorer(load([no_release]), Bounds(0, 1, 1), scope=LIFECYCLE).run()
    (v,) = result.violations
    assert v.invariant == "everything_can_end" and "no program action moves" in v.detail
    assert [s.action.event for s in v.path][-1] == "thread_block"


def test_program_actions_that_cycle_break_liveness() -> None:
    result = Explorer(load([_thread_release_to("running.blocked")]), Bounds(0, 1, 1), scope=LIFECYCLE).run()
    (v,) = result.violations
    assert v.invariant == "everything_can_end" and "run forever" in v.detail
    assert v.path[-1].system.procs[0].threads[0].life == "running.blocked"


def test_a_step_finding_is_reported_not_counted_as_a_violation() -> None:
    result = Explorer(base_model(), Bounds(0, 2, 1), scope=LIFECYCLE).run()
    assert result.ok
    (hit,) = result.findings
    assert hit.finding.name == "thread_outlives_thread_join" and hit.count > 0
    # What the finding says, read off the path itself: a daemon thread starts a non-daemon thread
    # after the main program's thread join, and the program ends while that thread runs.
    rules = [step.rules for step in hit.path]
    joined = next(i for i, r in enumerate(rules) if "process.main_joins_threads" in r)
    late = [s for s in hit.path[joined + 1:] if s.action.event == "thread_start"]
    assert late, [s.action.describe() for s in hit.path]
    thread = late[0].action.thread
    before, after = hit.path[-2].system.procs[0], hit.path[-1].system.procs[0]
    assert thread is not None and not before.threads[thread].daemon
    assert before.threads[thread].life.startswith("running") and after.terminated


def test_the_state_limit_stops_a_run_without_a_verdict() -> None:
    with pytest.raises(StateLimitError, match=r"state limit, 100 states .* no verdict"):
        Explorer(base_model(), Bounds(2, 1, 2), scope=LIFECYCLE, max_states=100).run()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--json", "missing-folder/r.json", "does not exist"),
    ("--json", ".", "is a folder"),
    ("--draw", "README.md/pics", "is not a folder"),
])
def test_cli_refuses_unwritable_outputs_before_the_run(option: str, value: str, message: str) -> None:
    from proclife.cli import main

    result = CliRunner().invoke(main, ["explore", "--procs", "3", "--threads", "2", option, value])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "states:" not in result.output, "refused before exploring"


def test_a_crash_is_status_3_never_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    from proclife.cli import main

    def crash(self: Explorer) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Explorer, "run", crash)
    result = CliRunner().invoke(main, ["explore", "--procs", "0"])
    assert result.exit_code == 3 and "not a finding" in result.output


@pytest.mark.parametrize(("python", "finding"), [("3.11", True), ("3.12", False), ("3.13", True)])
def test_cli_explores_the_rules_of_the_python_asked_for(python: str, finding: bool) -> None:
    from proclife.cli import main

    args = ["explore", "--procs", "0", "--threads", "2", "--scope", "lifecycle", "--python", python]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"model: fork, Python {python};" in result.output
    assert ("finding thread_outlives_thread_join" in result.output) == finding


@pytest.mark.parametrize("value", ["3", "2.7", "three.eleven"])
def test_cli_refuses_a_python_it_does_not_model(value: str) -> None:
    from proclife.cli import main

    result = CliRunner().invoke(main, ["explore", "--python", value])
    assert result.exit_code == 2 and "--python" in result.output
