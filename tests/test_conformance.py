"""Conformance end to end: the standard library agrees; deliberately broken implementations do not."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from proclife.conformance.check import Budget, check, engine_for
from proclife.conformance.plans import COMMITTED, committed_engines, plan_key, plan_problems, read_plan
from proclife.conformance.repro import write_reproducer
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import load
from proclife.runtime.impls import resolve_impl

ROOT = Path(__file__).resolve().parent.parent
PROCLIFE = [sys.executable, "-m", "proclife"]
# The directed phase aims at the rules (the pairs' coverage is tests/test_coverage_pairs.py's to check).
QUICK = Budget(examples=3, steps=10, max_seconds=120, first_only=True, aim="rules")

BROKEN = {
    # implementation -> the rule its breakage must be reported against (a pattern its id starts with), and the
    # observed fact that shows it
    # (None: the call's result differs; otherwise a pattern a line of the step's mismatches matches)
    "examples.broken_impls:START_TWICE": ("handle.start_twice", None),
    "examples.broken_impls:SIGNAL_EXITCODE": ("handle.exitcode_", None),
    "examples.broken_impls:CLOSE_RUNNING": ("handle.close_running", None),
    # seen only because every ended process's exit status is read after every step
    # (a raise in the target: target_raise, or os._exit of a non-int, which raises TypeError there)
    "examples.broken_impls:RAISE_EXITS_ZERO": (r"process\.(target_raise|os_exit_raises)_child",
                                               "model says exit code 1, it ended with 0"),
    "examples.broken_impls:TEXT_EXIT_ZERO": ("process.sys_exit_child", "model says exit code 1, it ended with 0"),
    # seen only because each agent reports the SIGTERM disposition it started with
    # (the parent's SIG_IGN, or the agent's handler, which fork carries too)
    "examples.broken_impls:SIGTERM_DISPOSITION_RESET": (
        "process.launch", "model says its SIGTERM disposition is (ignore|exit), its agent reports default"),
    # seen from inside: the main program's own account of its exit sequence (its observer), which
    # the reproducer checks too
    "examples.broken_impls:CHILDREN_ORPHANED": (
        "handle.exit_join_begins",
        "util._exit_function returned(, but the model says it is still in it| without sending SIGTERM to its "
        "daemonic child)|model says gone, the OS shows alive"),
    "examples.broken_impls:JOIN_LEAVES_ZOMBIE": (r"(handle\.(exit_)?join|process\.reap)", "still a zombie|the OS shows zombie"),
    # seen from inside: the child finishes while the model keeps it joining its Queue's feeder thread
    "examples.broken_impls:FEEDERS_NOT_JOINED": (
        r"process\.(target_return|target_raise|sys_exit|sigterm_handler_exits|sigint)",
        r"(util._exit_function returned, but the model says it is still in it|has finished, but the model says "
        r"it is) \(?exiting.run_finalizers"),
}


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


# What each configuration fixes, by the guards that read it: a rule that needs the other value is out of reach.
FIXED = {"atexit_in_child": sys.version_info >= (3, 13)}  # 3.13 children run _exit_function from atexit
# Rules that look reachable in the model but that the directed search does not find, per start method.
# Each is a known gap, stated so that a change either way fails the test (then update it here):
NOT_FOUND = {
    # 3.12 only (shutdown_refuses_fork / shutdown_refuses_threads): never true on 3.11 or 3.13.
    "fork": {"handle.start_refused_at_shutdown", "thread.start_refused_at_shutdown"},
    "spawn": {"handle.start_refused_at_shutdown", "thread.start_refused_at_shutdown",
              # the sentinel lags only behind a forked descendant holding the pipe
              "handle.join_timeout_lags"},
    "forkserver": {"handle.start_refused_at_shutdown", "thread.start_refused_at_shutdown",
                   "handle.join_timeout_lags",
                   # the forkserver reaps a child at once, so no signal finds it ended but unreaped
                   "process.sigint_ended", "process.sigkill_ended", "process.sigterm_ended"},
}


def _kind(reason: str) -> str:
    return next((k for k in ("does not apply here", "not found by the directed search") if reason.startswith(k)),
                reason)


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_standard_library_agrees_and_covers_the_reachable_rules(method: str) -> None:
    model = load()
    report = check(model, resolve_impl(method), Bounds(), Budget(examples=2, steps=10, max_seconds=240, aim="rules"))
    assert report.ok, "\n\n".join(d.explain() for d in report.disagreements)
    assert report.complete and report.steps > 100
    fixed = {**FIXED, "spawned": method == "spawn"}
    expected = {
        rule.id: "does not apply here"
        for rule in model.spec.rules
        if any(fixed.get(g.lstrip("!"), not g.startswith("!")) == g.startswith("!") for g in rule.when)
    }
    expected |= dict.fromkeys(NOT_FOUND[method], "not found by the directed search")
    # Every other rule is taken by a real run; the ones left out are exactly these, for these reasons.
    assert {rule: _kind(why) for rule, why in report.unreached.items()} == expected


def test_the_committed_plans_are_those_of_the_current_model() -> None:
    """Each committed plan is found by the key of today's model and replays in it; no stale plan is left."""
    refresh = "the model changed: refresh them with `python -m proclife.conformance.plans` and commit"
    wanted = {f"{plan_key(engine, Bounds())}.json": engine for engine in committed_engines()}
    present = {path.name for path in COMMITTED.glob("*.json")}
    assert present == set(wanted), f"committed plans {sorted(present)} are not {sorted(wanted)}: {refresh}"
    # The keys a run on this interpreter looks up are among them.
    for method in ("fork", "spawn", "forkserver"):
        assert f"{plan_key(engine_for(load(), resolve_impl(method)), Bounds())}.json" in wanted
    for name, engine in wanted.items():
        plan = read_plan(COMMITTED / name)
        assert plan is not None, f"{name} does not read back: {refresh}"
        assert plan_problems(engine, Bounds(), plan) == [], name
        assert plan.runs and len(plan.covered) > len(engine.spec.rules) / 2


@pytest.mark.slow
def test_a_committed_plan_is_what_the_search_finds_today() -> None:
    """The drift check above trusts the key; this one searches again (about 20 s) and compares."""
    from proclife.conformance.runner import drivable
    from proclife.model.explore.plan import directed_plan

    engine = engine_for(load(), resolve_impl("fork"))
    fresh = directed_plan(engine, Bounds(), drivable(engine))
    committed = read_plan(COMMITTED / f"{plan_key(engine, Bounds())}.json")
    assert committed is not None
    assert (committed.covered, committed.unreachable) == (fresh.covered, fresh.unreachable)


@pytest.mark.heavy
@pytest.mark.parametrize(("impl", "rule", "fact"), sorted((k, *v) for k, v in BROKEN.items()))
def test_each_broken_implementation_is_caught_with_a_trace_and_a_reproducer(
    impl: str, rule: str, fact: str | None, tmp_path: Path
) -> None:
    report = check(load(), resolve_impl(impl), Bounds(), QUICK)
    assert not report.ok
    found = report.disagreements[0]
    assert any(re.match(rule, r) for r in found.broken_rules()), found.explain()
    if fact is None:
        assert found.observed not in {t.observed for t in found.predicted}
    else:
        assert any(re.search(fact, m) for m in found.mismatches), found.explain()
    text = found.explain()
    assert "trace" in text and found.action.describe() in text
    script = write_reproducer(found, load().spec, tmp_path)
    replay = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "reproduced" in replay.stdout
    assert fact is None or re.search(fact, replay.stdout), replay.stdout  # the script checks the same fact


@pytest.mark.heavy
def test_cli_exit_status_is_1_for_a_broken_implementation(tmp_path: Path) -> None:
    out = subprocess.run(
        [*PROCLIFE, "conform", "--impl", "examples.broken_impls:CLOSE_RUNNING", "--examples", "0", "--max-seconds", "90",
         "--aim", "rules",
         "--repro-dir", str(tmp_path), "--json", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "handle.close_running" in out.stdout
    assert list(tmp_path.glob("reproduce-*.py"))
    assert '"ok": false' in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize("spec", ["nope", "billiard/teleport", "no_such_module:thing"])
def test_cli_unknown_implementation_is_a_usage_error(spec: str) -> None:
    out = subprocess.run([*PROCLIFE, "conform", "--impl", spec], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert spec in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--json", "--repro-dir"])
def test_cli_unwritable_output_is_refused_before_any_process_starts(option: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = subprocess.run([*PROCLIFE, "conform", "--impl", "fork", option, str(blocker / "below")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert option in out.stderr and "planning" not in out.stdout + out.stderr


def test_ctrl_c_leaves_no_process_behind() -> None:
    """Interrupt a long run mid-flight: exit status 3, and every process it had started is gone."""
    proc = subprocess.Popen(
        [*PROCLIFE, "conform", "--impl", "fork", "--no-directed", "--examples", "100000", "--max-seconds", "600"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    me = psutil.Process(proc.pid)
    seen: set[psutil.Process] = set()
    try:
        # The run is under way once agents exist below it; wait for that (bounded by the deadline).
        with pytest.raises(psutil.TimeoutExpired):
            me.wait(timeout=0.5)  # it must still be running
        for _ in range(200):
            seen.update(me.children(recursive=True))
            if len(seen) >= 2:
                break
            with pytest.raises(psutil.TimeoutExpired):
                me.wait(timeout=0.05)
        assert seen, "the run never started a process"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    _gone, alive = psutil.wait_procs(list(seen), timeout=30)
    assert not alive, f"left behind: {alive}"


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["fork", "spawn", "forkserver", "billiard", "multiprocess", "billiard/spawn",
                                  "multiprocess/forkserver"])
def test_thorough_conformance_against_each_implementations_profile(spec: str) -> None:
    """The long profile (`./run test -m slow`): the directed plan and 60 random examples of 30 steps."""
    from proclife.model.profiles.profile import model_of
    from proclife.model.profiles.registry import default_profile

    impl = resolve_impl(spec)
    model = model_of(default_profile(impl.name))
    report = check(model, impl, Bounds(), Budget(examples=60, steps=30, max_seconds=900))
    assert report.ok, "\n\n".join(d.explain() for d in report.disagreements)
