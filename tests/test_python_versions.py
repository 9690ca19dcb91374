"""Behaviour that differs between Python versions, as the model has it and as real processes show it.

From CPython 3.13 a child started by multiprocessing joins its non-daemon threads first and runs
``util._exit_function`` (terminate daemonic children, join children) from ``atexit`` afterwards,
the main program's order; a signal's exception during that sequence is swallowed and the exit
code stays the target's. 3.11 and 3.12 run ``_exit_function`` first, from ``_bootstrap``.
Experiments: docs/python-versions.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proclife.conformance.check import engine_for
from proclife.conformance.report import Disagreement
from proclife.conformance.runner import run_trace
from proclife.model.core.base import BASE
from proclife.model.core.engine import Engine, Transition
from proclife.model.core.extend import load
from proclife.model.core.semantics import MAIN_PAST_THREAD_SHUTDOWN, NO_ARG, Action
from proclife.model.core.system import START_METHODS, Config, System
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.variants import BILLIARD
from proclife.runtime.impls import resolve_impl

PYTHONS = ((3, 11), (3, 12), (3, 13))
P1 = 1


def engine(method: str, python: tuple[int, int]) -> Engine:
    return Engine(BASE, config=Config(start_method=method, python=python))  # type: ignore[arg-type]


def step(eng: Engine, system: System, event: str, pid: int, arg: object = NO_ARG,
         thread: int | None = None) -> Transition:
    outcomes = eng.predict(system, Action(event, pid, thread, arg))
    assert len(outcomes) == 1, f"{event}@P{pid}: {len(outcomes)} outcomes\n{system.describe()}"
    return outcomes[0]


def run(eng: Engine, steps: list[tuple], system: System | None = None) -> System:
    system = system or System.initial()
    for s in steps:
        system = step(eng, system, *s).system
    return system


# P1 with a started daemonic child P2 and a started non-daemon thread T0; then P1's target returns.
WITH_THREAD_AND_DAEMON = [
    ("create_child", 0, False), ("start", P1),
    ("create_child", P1, True), ("start", 2),
    ("create_thread", P1, False), ("thread_start", P1, NO_ARG, 0),
    ("target_return", P1),
]


def settle(eng: Engine, system: System, pid: int) -> System:
    """Let ``pid``'s exit sequence proceed while it can."""
    for _ in range(10):
        outcomes = eng.predict(system, Action("proceed", pid))
        if not outcomes:
            return system
        assert len(outcomes) == 1
        system = outcomes[0].system
    return system


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("python", PYTHONS, ids=str)
def test_when_a_child_terminates_its_daemonic_children(method: str, python: tuple[int, int]) -> None:
    eng = engine(method, python)
    s = settle(eng, run(eng, WITH_THREAD_AND_DAEMON), P1)
    if python >= (3, 13):  # threads first: the daemonic child lives while T0 runs
        assert s.procs[P1].life == "exiting.join_threads"
        assert not s.procs[2].terminated
    else:
        assert s.procs[P1].life == "exiting.join_threads"
        assert s.procs[2].exitcode == -15
    s = settle(eng, step(eng, s, "thread_finish", P1, NO_ARG, 0).system, P1)
    assert s.procs[P1].terminated and s.procs[P1].exitcode == 0
    assert s.procs[2].exitcode == -15


@pytest.mark.parametrize("python", PYTHONS, ids=str)
def test_a_child_started_by_a_thread_during_the_thread_join(python: tuple[int, int]) -> None:
    eng = engine("fork", python)
    s = run(eng, [("create_child", 0, False), ("start", P1),
                  ("create_thread", P1, False), ("thread_start", P1, NO_ARG, 0), ("target_return", P1)])
    s = settle(eng, s, P1)
    assert s.procs[P1].life == "exiting.join_threads"
    s = run(eng, [("create_child", P1, False), ("start", 2, NO_ARG, 0), ("thread_finish", P1, NO_ARG, 0)], s)
    s = settle(eng, s, P1)
    if python >= (3, 13):  # joined by the exit function that runs after the threads
        assert s.procs[P1].life == "exiting.join_children"
        s = settle(eng, step(eng, s, "target_return", 2).system, P1)
        assert s.procs[P1].terminated and not s.procs[2].orphan
    else:  # not joined: orphaned
        assert s.procs[P1].terminated and s.procs[2].orphan and not s.procs[2].terminated


# (phase, signal) -> exit code on 3.11/3.12 for fork, spawn, forkserver; on 3.13 the target's code
# stays (here sys.exit(2)). "join_children": no thread left, a non-daemon grandchild runs.
LATE = {
    ("join_threads", "sigint"): (1, -2, 1),
    ("join_threads", "sigterm"): (1, 3, 1),
    ("join_children", "sigint"): (1, 1, 1),
    ("join_children", "sigterm"): (3, 3, 3),
}


@pytest.mark.parametrize(("phase", "signal"), sorted(LATE), ids=str)
@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("python", PYTHONS, ids=str)
def test_a_signal_during_a_childs_exit_sequence(phase: str, signal: str, method: str,
                                                python: tuple[int, int]) -> None:
    eng = engine(method, python)
    steps: list[tuple] = [("create_child", 0, False), ("start", P1), ("install_sigterm", P1, "exit")]
    if phase == "join_threads":
        steps += [("create_thread", P1, False), ("thread_start", P1, NO_ARG, 0)]
    else:
        steps += [("create_child", P1, False), ("start", 2)]
    s = settle(eng, run(eng, [*steps, ("sys_exit", P1, 2)]), P1)
    assert s.procs[P1].life == f"exiting.{phase}"
    s = step(eng, s, signal, P1).system
    if python < (3, 13) and phase == "join_children":  # caught in _bootstrap; threads still joined
        s = settle(eng, s, P1)
    assert s.procs[P1].terminated, s.describe()
    want = 2 if python >= (3, 13) else LATE[phase, signal][START_METHODS.index(method)]
    assert s.procs[P1].exitcode == want
    if phase == "join_children":  # the interrupted join: the grandchild runs on, orphaned
        assert s.procs[2].orphan and not s.procs[2].terminated


def test_billiard_keeps_its_own_order_on_3_13() -> None:
    model = model_of(BILLIARD)
    eng = Engine(model.spec, model.semantics, Config(start_method="spawn", python=(3, 13)))
    s = settle(eng, run(eng, WITH_THREAD_AND_DAEMON), P1)
    assert s.procs[P1].life == "exiting.join_threads"  # billiard: children left, then the threads


@pytest.mark.parametrize("method", START_METHODS)
def test_this_python_has_the_order_the_model_gives_it(method: str) -> None:
    """Real processes of the running interpreter: the daemonic grandchild's fate while T0 runs."""
    impl = resolve_impl(method)
    eng = engine_for(load([]), impl)
    assert eng.config.python == sys.version_info[:2]
    actions = [Action(e, pid, thread, arg) for e, pid, arg, thread in (
        ("create_child", 0, False, None), ("start", P1, NO_ARG, None),
        ("create_child", P1, True, None), ("start", 2, NO_ARG, None),
        ("create_thread", P1, False, None), ("thread_start", P1, NO_ARG, 0),
        ("target_return", P1, NO_ARG, None),  # P2 ends now (3.11, 3.12) or lives on (3.13)
        ("thread_finish", P1, NO_ARG, 0), ("is_alive", P1, NO_ARG, None),
    )]
    try:
        trace = run_trace(eng, impl, actions)
    except Disagreement as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(str(exc))
    assert len(trace) == len(actions)



def _main_past_thread_shutdown(eng: Engine) -> System:
    """The main program with a daemon thread running, its own exit sequence past threading._shutdown()."""
    s = run(eng, [("create_thread", 0, True), ("create_thread", 0, False), ("thread_start", 0, NO_ARG, 0)])
    for action in (Action("target_return", 0), Action("proceed", 0)):  # fired, not settled: one phase each
        (t,) = eng.fire(s, action)
        s = t.system
    assert s.procs[0].life in MAIN_PAST_THREAD_SHUTDOWN, s.describe()
    return s


@pytest.mark.parametrize("python", PYTHONS, ids=str)
def test_a_thread_started_after_the_main_programs_thread_shutdown(python: tuple[int, int]) -> None:
    eng = engine("fork", python)
    (t,) = eng.fire(_main_past_thread_shutdown(eng), Action("thread_start", 0, 1))
    if python == (3, 12):
        assert t.observed == "RuntimeError: can't create new thread at interpreter shutdown"
        assert t.system.procs[0].threads[1].life == "new"
    else:  # started, and the exit sequence never joins it
        assert t.observed == "ack" and t.system.procs[0].threads[1].life == "running.runnable"
        s = settle(eng, t.system, 0)
        assert s.procs[0].terminated and s.procs[0].exitcode == 0


def test_this_python_starts_late_threads_as_the_model_says() -> None:
    """The experiment behind rule thread.start_refused_at_shutdown, run on this interpreter."""
    program = Path(__file__).parent / "programs" / "late_thread.py"
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    eng = engine("fork", sys.version_info[:2])
    (t,) = eng.fire(_main_past_thread_shutdown(eng), Action("thread_start", 0, 1))
    predicted = t.observed
    assert done.stdout.strip() == ("started" if predicted == "ack" else predicted)


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("python", PYTHONS, ids=str)
def test_3_12_refuses_threads_and_fork_during_the_main_programs_thread_join(method: str,
                                                                           python: tuple[int, int]) -> None:
    """Seen on 3.12.1 (`proclife conform`, and a thread of the main program during its join)."""
    eng = engine(method, python)
    s = run(eng, [("create_thread", 0, False), ("create_thread", 0, False), ("thread_start", 0, NO_ARG, 0),
                  ("create_child", 0, False)])
    (t,) = eng.fire(s, Action("target_return", 0))
    s = t.system
    assert s.procs[0].life == "exiting.join_threads"
    (thread,) = eng.fire(s, Action("thread_start", 0, 1))
    (start,) = eng.fire(s, Action("start", 1))
    refused = python == (3, 12)
    assert thread.observed == ("RuntimeError: can't create new thread at interpreter shutdown" if refused else "ack")
    fork_refused = refused and method == "fork"
    assert start.observed == ("RuntimeError: can't fork at interpreter shutdown" if fork_refused else "None")
    assert start.system.procs[1].handle == ("initial" if fork_refused else "started")
