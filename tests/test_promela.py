"""SPIN and the explorer count the same reachable systems on small bounds."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import pytest

from examples.early_exit import EXTENSION as EARLY_EXIT
from proclife.model.core.base import BASE
from proclife.model.core.engine import Bounds
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Extension, base_model, load
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import System
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.scopes import EXIT, FULL, LIFECYCLE, SMALL, Scope
from proclife.model.spin.pml import as_result, generate
from proclife.model.spin.promela import SpinError
from proclife.spin_runner import run_spin as run_spin_optimized

# These bounds are searched by pan in about a second: compile it without optimization, which
# saves 10-15 s of gcc per test (the command line's -O2 is tested in test_explore.py).
run_spin = functools.partial(run_spin_optimized, optimize=False)

needs_spin = pytest.mark.tools("spin", "gcc")  # skipped where missing, failed under CI (tests/conftest.py)


@needs_spin
@pytest.mark.heavy
@pytest.mark.parametrize(("procs", "threads", "chosen"), [
    (1, 0, FULL), (1, 1, EXIT), (1, 0, LIFECYCLE), (0, 1, FULL),
    pytest.param(2, 0, SMALL, marks=pytest.mark.slow),
    pytest.param(1, 1, SMALL, marks=pytest.mark.slow),  # about 60 s since the scopes offer queues
])
def test_spin_counts_the_same_states(procs: int, threads: int, chosen: Scope) -> None:
    bounds = Bounds(procs, threads, 2)
    ours = Explorer(base_model(), bounds, scope=chosen, symmetry=False).run()
    spin = run_spin(base_model(), bounds, chosen)
    assert spin.errors == 0
    assert spin.states == ours.stats.states
    assert spin.transitions == ours.stats.transitions + 1  # pan also counts its start-up step


def test_an_extension_guard_without_promela_is_refused() -> None:
    rule = replace(BASE.rule("process.block"), when=("moon_is_full",))
    ext = Extension("moon", "a guard SPIN cannot know", rules=(rule,), guards={"moon_is_full": lambda s, c: True})
    with pytest.raises(ModelError, match=r"moon_is_full.*no Promela counterpart"):
        generate(load([ext]), Bounds(1, 0, 2), FULL)


def _no_exitcode_on_sigkill() -> Extension:
    rule = BASE.rule("process.sigkill")
    return Extension("lost_code", "SIGKILL forgets the exit code", rules=(replace(rule, effects=("die",)),))


BROKEN = [
    (EARLY_EXIT, Bounds(1, 1, 2), EXIT, "exit_sequence_joined"),
    (Extension("no_release", "nothing releases a thread", remove=("thread.release",)), Bounds(0, 1, 1), LIFECYCLE,
     "everything_can_end"),
    (_no_exitcode_on_sigkill(), Bounds(1, 0, 2), SMALL, "terminated_has_exitcode"),
]


@pytest.mark.parametrize(("extension", "bounds", "chosen", "check"), BROKEN)
def test_the_explorer_catches_each_broken_model(extension: Extension, bounds: Bounds, chosen: Scope,
                                                check: str) -> None:
    ours = Explorer(load([extension]), bounds, scope=chosen, symmetry=False).run()
    assert [v.invariant for v in ours.violations] == [check]


@needs_spin
@pytest.mark.parametrize(("extension", "bounds", "chosen", "check"), BROKEN)
def test_spin_catches_what_the_explorer_catches(extension: Extension, bounds: Bounds, chosen: Scope,
                                                 check: str) -> None:
    model = load([extension])
    spin = run_spin(model, bounds, chosen)
    assert spin.errors == 1 and spin.failed == check
    result = as_result(model, bounds, chosen, spin)
    (v,) = result.violations
    assert v.invariant == check and v.path, "the trail is followed from the start"
    assert [s.action for s in v.path] == [o.action for o in spin.trail]


@needs_spin
def test_spin_and_the_explorer_excuse_the_same_finding() -> None:
    bounds = Bounds(0, 2, 1)
    ours = Explorer(base_model(), bounds, scope=LIFECYCLE, symmetry=False).run()
    assert ours.ok and [h.finding.name for h in ours.findings] == ["thread_outlives_thread_join"]
    spin = run_spin(base_model(), bounds, LIFECYCLE)
    assert spin.errors == 0 and spin.states == ours.stats.states


@needs_spin
def test_pan_out_of_memory_is_a_harness_failure_not_a_verdict() -> None:
    with pytest.raises(SpinError, match=r"memory bound \(-DMEMLIM=600 MB\).*no verdict"):
        run_spin(base_model(), Bounds(1, 0, 2), SMALL, memory_mb=600)


@needs_spin
@pytest.mark.slow
def test_the_default_profile_p2_t1_counts_the_same_in_both_engines() -> None:
    """`proclife explore --procs 2 --threads 1 --check spin` (a bit over two minutes), as the README gives it."""
    import re

    from click.testing import CliRunner

    from proclife.cli import main

    result = CliRunner().invoke(main, ["explore", "--procs", "2", "--threads", "1", "--check", "spin"])
    assert result.exit_code == 0, result.output
    match = re.search(r"spin: ([\d,]+) states.*python: ([\d,]+) states \(the same\)", result.output)
    assert match and match.group(1) == match.group(2), result.output
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"{match.group(1)} from both" in readme.replace("\n", " ")


def test_a_tool_dies_with_the_command_that_started_it() -> None:
    """SIGKILL the process running a tool (pan, gcc, spin): the kernel ends the tool with it.

    ``sleep`` stands for pan: like a long search it outlives a dead parent unless something
    kills it, and unlike pan it never writes, so no SIGPIPE ends it by chance.
    """
    import signal
    import subprocess
    import sys
    import time

    import psutil

    code = "from pathlib import Path; from proclife.spin_runner import _run; _run(['sleep', '120'], Path('.'))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    tool: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 30
        while tool is None and time.monotonic() < deadline and proc.poll() is None:
            tool = next((c for c in psutil.Process(proc.pid).children() if c.name() == "sleep"), None)
            if tool is None:
                time.sleep(0.05)  # sleep-ok: polling the process table for the tool to appear, bounded above
        assert tool is not None, "the tool never started within 30 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _gone, alive = psutil.wait_procs([tool], timeout=10)
        assert not alive, f"the tool {tool.pid} outlived the command that started it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if tool is not None and tool.is_running():
            tool.kill()


SIGINT_ONLY = Scope("sigint_only", "the exit sequences, threads, and SIGINT from outside", offers=frozenset(
    {"create_child", "create_thread", "start", "join", "target_return", "thread_start", "thread_release",
     "thread_finish", "sigint"}))


@pytest.mark.parametrize("python", [(3, 11), (3, 13)], ids=str)
def test_a_thread_join_interrupted_by_sigint_is_a_finding(python: tuple[int, int]) -> None:
    """SIGINT during a thread join abandons the threads: the main program's always, a child's from 3.13."""
    from proclife.model.core.system import Config

    config = Config(python=python)
    bounds = Bounds(1, 1, 2)
    ours = Explorer(base_model(), bounds, config=config, scope=SIGINT_ONLY, symmetry=False).run()
    assert ours.ok, [v.invariant for v in ours.violations]
    (hit,) = ours.findings
    assert hit.finding.name == "thread_outlives_thread_join"
    assert "process.sigint_in_thread_shutdown_main" in {r for step in hit.path for r in step.rules}
    if python >= (3, 13):  # a child's interrupted join is excused too, where it happens
        child = [("create_child", 0, False), ("start", 1), ("create_thread", 1, False), ("thread_start", 1, 0),
                 ("target_return", 1), ("sigint", 1)]
        engine = Explorer(base_model(), bounds, config=config, scope=SIGINT_ONLY).engine
        system = System.initial()
        for event, pid, *rest in child:
            arg = rest[0] if rest else NO_ARG
            action = Action(event, pid, arg if event == "thread_start" else None,
                            NO_ARG if event == "thread_start" else arg)
            system = engine.fire(system, action)[0].system
        assert system.procs[1].life == "exiting.terminate_daemon_children"
        assert hit.finding.matches(system, 1, config)


@needs_spin
@pytest.mark.heavy
@pytest.mark.parametrize("python", [(3, 11), (3, 13)], ids=str)
def test_spin_excuses_an_interrupted_thread_join_as_the_explorer_does(python: tuple[int, int]) -> None:
    from proclife.model.core.system import Config

    config = Config(python=python)
    bounds = Bounds(1, 1, 2)
    ours = Explorer(base_model(), bounds, config=config, scope=SIGINT_ONLY, symmetry=False).run()
    spin = run_spin(base_model(), bounds, SIGINT_ONLY, config)
    assert spin.errors == 0 and spin.states == ours.stats.states
