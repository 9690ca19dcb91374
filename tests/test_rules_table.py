"""The base model against a table of CPython 3.11.7's behaviour, typed by hand from experiments.

Every expected value below was observed on real processes (fork, spawn and forkserver; the
scripts and their output are in docs/semantics.md) and is written out here, never read back
from the model. Each row builds a system by predicting actions from ``System.initial()`` and
asserts the model's observation and the states it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proclife.model.core.base import BASE
from proclife.model.core.engine import Engine, Transition
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import START_METHODS, Config, System

ENGINES = {m: Engine(BASE, config=Config(start_method=m)) for m in START_METHODS}
P1 = 1

# Exact messages as CPython 3.11.7 prints them (E1 in docs/semantics.md).
CLOSED = "ValueError: process object is closed"
TWICE = "AssertionError: cannot start a process twice"
ALREADY = "AssertionError: process has already started"
UNSTARTED_JOIN = "AssertionError: can only join a started process"
NOT_STARTED = "ValueError: process not started"
STILL_RUNNING = (
    "ValueError: Cannot close a process while it is still running. "
    "You should first call join() or terminate()."
)


def step(engine: Engine, system: System, event: str, pid: int, arg: object = NO_ARG,
         thread: int | None = None) -> Transition:
    """Predict one action; the rows below are all deterministic: exactly one outcome."""
    outcomes = engine.predict(system, Action(event, pid, thread, arg))
    assert len(outcomes) == 1, f"{event}@P{pid}: {len(outcomes)} outcomes\n{system.describe()}"
    return outcomes[0]


def each(engine: Engine, systems: list[System], event: str, pid: int, arg: object = NO_ARG,
         thread: int | None = None) -> list[System]:
    """Every outcome from every system: the exit sequence joins its children in any order (E9)."""
    return [t.system for s in systems for t in engine.predict(s, Action(event, pid, thread, arg))]


def run(engine: Engine, steps: list[tuple]) -> System:
    system = System.initial()
    for s in steps:
        system = step(engine, system, *s).system
    return system


# How to put P1's handle in each state (E1): the OS process's end is a program event.
SETUP: dict[str, list[tuple]] = {
    "initial": [("create_child", 0, False)],
    "running": [("create_child", 0, False), ("start", P1)],
    "ended": [("create_child", 0, False), ("start", P1), ("target_return", P1)],
    "stopped": [("create_child", 0, False), ("start", P1), ("target_return", P1), ("join", P1)],
    "closed": [("create_child", 0, False), ("start", P1), ("target_return", P1), ("join", P1), ("close", P1)],
    "closed_initial": [("create_child", 0, False), ("close", P1)],
}


@dataclass(frozen=True)
class Row:
    state: str
    call: str
    arg: object
    observed: str
    handle_after: str


def rows() -> list[Row]:
    """The handle API table as observed (E1): the same for fork, spawn and forkserver."""
    t: list[Row] = []

    def add(state: str, call: str, observed: str, after: str | None = None, arg: object = NO_ARG) -> None:
        before = {"running": "started", "ended": "started", "closed_initial": "closed"}.get(state, state)
        t.append(Row(state, call, arg, observed, after or before))

    # initial
    add("initial", "is_alive", "False")
    add("initial", "exitcode", "None")
    add("initial", "pid", "None")
    add("initial", "sentinel", NOT_STARTED)
    add("initial", "set_daemon", "None", arg=True)
    add("initial", "set_daemon", "None", arg=False)
    add("initial", "start", "None", "started")
    add("initial", "join", UNSTARTED_JOIN)
    add("initial", "join_timeout", UNSTARTED_JOIN)
    add("initial", "terminate", "AttributeError: 'NoneType' object has no attribute 'terminate'")
    add("initial", "kill", "AttributeError: 'NoneType' object has no attribute 'kill'")
    add("initial", "close", "None", "closed")
    # started, the process running
    add("running", "is_alive", "True")
    add("running", "exitcode", "None")
    add("running", "pid", "<int>")
    add("running", "sentinel", "<int>")
    add("running", "set_daemon", ALREADY, arg=True)
    add("running", "start", TWICE)
    add("running", "join_timeout", "None")
    add("running", "terminate", "None")
    add("running", "kill", "None")
    add("running", "close", STILL_RUNNING)
    # started, the process ended, no poll yet: only polling calls move the handle
    add("ended", "is_alive", "False", "stopped")
    add("ended", "exitcode", "0", "stopped")
    add("ended", "pid", "<int>")
    add("ended", "sentinel", "<int>")
    add("ended", "set_daemon", ALREADY, arg=False)
    add("ended", "start", TWICE)
    add("ended", "join", "None", "stopped")
    add("ended", "join_timeout", "None", "stopped")
    add("ended", "terminate", "None")
    add("ended", "kill", "None")
    add("ended", "close", "None", "closed")
    # stopped
    add("stopped", "is_alive", "False")
    add("stopped", "exitcode", "0")
    add("stopped", "pid", "<int>")
    add("stopped", "sentinel", "<int>")
    add("stopped", "set_daemon", ALREADY, arg=True)
    add("stopped", "start", TWICE)
    add("stopped", "join", "None")
    add("stopped", "join_timeout", "None")
    add("stopped", "terminate", "None")
    add("stopped", "kill", "None")
    add("stopped", "close", "None", "closed")
    # closed (after a run, or straight from initial): the same answers
    for state in ("closed", "closed_initial"):
        for call in ("is_alive", "exitcode", "pid", "sentinel", "start", "join", "join_timeout",
                     "terminate", "kill"):
            add(state, call, CLOSED)
        add(state, "set_daemon", "None", arg=True)  # accepted: close() set _popen to None
        add(state, "close", "None")
    return t


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r.state}-{r.call}-{r.arg!r}")
def test_handle_api(method: str, row: Row) -> None:
    engine = ENGINES[method]
    system = run(engine, SETUP[row.state])
    t = step(engine, system, row.call, P1, row.arg)
    assert t.observed == row.observed
    assert t.system.procs[P1].handle == row.handle_after


def test_the_table_covers_every_handle_event() -> None:
    handle_events = {e.name for e in BASE.events if e.machine == "handle" and e.actor != "internal"}
    for state in SETUP:
        covered = {r.call for r in rows() if r.state == state}
        if state == "running":
            covered.add("join")  # would wait for ever: not offered while the process runs
        assert covered == handle_events, state


@pytest.mark.parametrize("method", START_METHODS)
def test_set_daemon_after_close_is_accepted_and_sets_the_flag(method: str) -> None:
    system = run(ENGINES[method], SETUP["closed"] + [("set_daemon", P1, True)])
    assert system.procs[P1].daemon is True


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("pid", [0, 1])
def test_join_of_own_process(method: str, pid: int) -> None:
    engine = ENGINES[method]
    system = run(engine, SETUP["running"])
    assert step(engine, system, "join_current", pid).observed == "AssertionError: can only join a child process"


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("child_daemon", [False, True])
def test_a_daemonic_process_cannot_start_a_child(method: str, child_daemon: bool) -> None:
    engine = ENGINES[method]
    system = run(engine, [("create_child", 0, True), ("start", 1), ("create_child", 1, child_daemon)])
    t = step(engine, system, "start", 2)
    assert t.observed == "AssertionError: daemonic processes are not allowed to have children"
    assert t.system.procs[2].handle == "initial"
    assert t.system.procs[2].life == "new"


# --- ends of the target and exit codes (E2) -------------------------------------------------

END_CODES = [
    ("target_return", NO_ARG, 0),
    ("target_raise", NO_ARG, 1),
    ("sys_exit", None, 0),
    ("sys_exit", 2, 2),
    ("sys_exit", 256, 0),
    ("sys_exit", -1, 255),
    ("sys_exit", True, 1),
    ("sys_exit", "text", 1),
    ("os_exit", 0, 0),
    ("os_exit", 3, 3),
]


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize(("event", "arg", "code"), END_CODES, ids=lambda v: repr(v))
def test_exit_code_of_each_end_of_the_target(method: str, event: str, arg: object, code: int) -> None:
    engine = ENGINES[method]
    system = run(engine, SETUP["running"] + [(event, P1, arg)])
    assert system.procs[P1].terminated
    t = step(engine, system, "exitcode", P1)
    assert t.observed == str(code)
    assert t.system.procs[P1].handle == "stopped"


SIGNAL_CODES = [
    # (SIGTERM disposition set by the target, how the signal is sent, exitcode, still alive after it)
    ("default", ("sigint", P1), 1, False),
    ("default", ("sigterm", P1), -15, False),
    ("default", ("terminate", P1), -15, False),
    ("default", ("kill", P1), -9, False),
    ("default", ("sigkill", P1), -9, False),
    ("ignore", ("terminate", P1), None, True),
    ("ignore", ("sigterm", P1), None, True),
    ("exit", ("terminate", P1), 3, False),
    ("exit", ("sigterm", P1), 3, False),
]


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize(("disposition", "signal", "code", "alive"), SIGNAL_CODES, ids=str)
def test_exit_code_of_a_signalled_child(method: str, disposition: str, signal: tuple, code: int | None,
                                        alive: bool) -> None:
    engine = ENGINES[method]
    steps = SETUP["running"]
    if disposition != "default":
        steps = [*steps, ("install_sigterm", P1, disposition)]
    system = run(engine, [*steps, signal])
    assert step(engine, system, "is_alive", P1).observed == str(alive)
    if not alive:
        assert step(engine, system, "exitcode", P1).observed == str(code)


# --- where the exit sequence stops, phase by phase (E3, E4) ---------------------------------

@pytest.mark.parametrize("method", START_METHODS)
def test_child_exit_sequence_order(method: str) -> None:
    """P1: a non-daemon thread, a daemonic child P2, a non-daemon child P3; its target returns."""
    engine = ENGINES[method]
    before = run(engine, SETUP["running"] + [
        ("create_thread", P1, False), ("thread_start", P1, NO_ARG, 0),
        ("create_child", P1, True), ("start", 2),
        ("create_child", P1, False), ("start", 3),
    ])
    outcomes = each(engine, [before], "target_return", P1)
    assert len(outcomes) == 2  # P2 joined (or polled away) before P3, or after it (E9)
    for s in outcomes:
        # daemonic child SIGTERMed at once, before any wait; P1 waits for P3
        assert s.procs[1].life == "exiting.join_children"
        assert s.procs[1].threads[0].life == "running.runnable"
        assert s.procs[2].terminated and s.procs[2].exitcode == -15
        assert s.procs[3].life == "running.runnable"
    for s in each(engine, outcomes, "target_return", 3):
        # P3 and P2 joined (their handles polled); now the thread holds P1
        assert s.procs[3].handle == "stopped" and s.procs[2].handle == "stopped"
        assert s.procs[1].life == "exiting.join_threads"
        (s,) = each(engine, [s], "thread_finish", P1, NO_ARG, 0)
        assert s.procs[1].terminated and s.procs[1].exitcode == 0


@pytest.mark.parametrize("method", START_METHODS)
def test_main_program_exit_sequence_order(method: str) -> None:
    """Main: a non-daemon thread, a daemonic child P1, a non-daemon child P2; its code ends."""
    engine = ENGINES[method]
    s = run(engine, [
        ("create_thread", 0, False), ("thread_start", 0, NO_ARG, 0),
        ("create_child", 0, True), ("start", 1),
        ("create_child", 0, False), ("start", 2),
        ("target_return", 0),
    ])
    # threads first: the daemonic child still runs while the thread holds the main program
    assert s.procs[0].life == "exiting.join_threads"
    assert s.procs[1].life == "running.runnable"
    outcomes = each(engine, [s], "thread_finish", 0, NO_ARG, 0)
    assert len(outcomes) == 2
    for s in outcomes:
        assert s.procs[1].terminated and s.procs[1].exitcode == -15
        assert s.procs[0].life == "exiting.join_children"
    for s in each(engine, outcomes, "target_return", 2):
        assert s.procs[0].terminated and s.procs[0].exitcode == 0


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize(("signal", "code"), [("sigint", -2), ("sigterm", 3)])
def test_main_program_signalled_runs_the_same_sequence(method: str, signal: str, code: int) -> None:
    """E4: SIGINT gives returncode -2 and a SIGTERM handler calling sys.exit(3) gives 3, both after
    threads, daemonic children and children were dealt with in the same order."""
    engine = ENGINES[method]
    steps: list[tuple] = [
        ("create_thread", 0, False), ("thread_start", 0, NO_ARG, 0),
        ("create_child", 0, True), ("start", 1),
        ("create_child", 0, False), ("start", 2),
    ]
    if signal == "sigterm":
        steps.append(("install_sigterm", 0, "exit"))
    s = run(engine, [*steps, (signal, 0)])
    assert s.procs[0].life == "exiting.join_threads"
    assert not s.procs[1].terminated
    outcomes = each(engine, [s], "thread_finish", 0, NO_ARG, 0)
    assert len(outcomes) == 2
    for s in outcomes:
        assert s.procs[1].exitcode == -15
        assert s.procs[0].life == "exiting.join_children"
    for s in each(engine, outcomes, "target_return", 2):
        assert s.procs[0].exitcode == code


# --- a signal during a child's exit sequence (E5) -------------------------------------------

LATE = [
    # (start method, phase, signal, exitcode, the threads are still joined)
    ("fork", "join_children", "sigint", 1, True),
    ("spawn", "join_children", "sigint", 1, True),
    ("forkserver", "join_children", "sigint", 1, True),
    ("fork", "join_children", "sigterm", 3, True),
    ("spawn", "join_children", "sigterm", 3, True),
    ("forkserver", "join_children", "sigterm", 3, True),
    ("fork", "join_threads", "sigint", 1, False),
    ("spawn", "join_threads", "sigint", -2, False),
    ("forkserver", "join_threads", "sigint", 1, False),
    ("fork", "join_threads", "sigterm", 1, False),
    ("spawn", "join_threads", "sigterm", 3, False),
    ("forkserver", "join_threads", "sigterm", 1, False),
]


@pytest.mark.parametrize(("method", "phase", "signal", "code", "threads_joined"), LATE, ids=str)
def test_signal_during_the_exit_sequence(method: str, phase: str, signal: str, code: int,
                                         threads_joined: bool) -> None:
    engine = ENGINES[method]
    steps: list[tuple] = [*SETUP["running"], ("install_sigterm", P1, "exit"),
                          ("create_thread", P1, False), ("thread_start", P1, NO_ARG, 0)]
    if phase == "join_children":
        steps += [("create_child", P1, False), ("start", 2)]
    s = run(engine, [*steps, ("target_return", P1)])
    assert s.procs[P1].life == f"exiting.{phase}"
    s = step(engine, s, signal, P1).system
    if threads_joined:
        assert s.procs[P1].life == "exiting.join_threads"
        s = step(engine, s, "thread_finish", P1, NO_ARG, 0).system
    assert s.procs[P1].terminated
    assert s.procs[P1].exitcode == code
    if phase == "join_children":  # the interrupted join: the grandchild runs on, orphaned
        assert s.procs[2].orphan and not s.procs[2].terminated


# --- zombies and the sentinel lag (E1, E6) --------------------------------------------------

@pytest.mark.parametrize(("method", "life"), [("fork", "terminated.zombie"), ("spawn", "terminated.zombie"),
                                              ("forkserver", "terminated.reaped")])
def test_an_ended_child_is_a_zombie_until_polled_except_under_forkserver(method: str, life: str) -> None:
    engine = ENGINES[method]
    s = run(engine, SETUP["ended"])
    assert s.procs[P1].life == life
    s = step(engine, s, "is_alive", P1).system
    assert s.procs[P1].life == "terminated.reaped"


@pytest.mark.parametrize(("method", "lags"), [("fork", True), ("spawn", False), ("forkserver", False)])
@pytest.mark.parametrize("end", [("os_exit", P1, 0), ("sigkill", P1)])
def test_join_timeout_with_a_live_grandchild(method: str, lags: bool, end: tuple) -> None:
    engine = ENGINES[method]
    s = run(engine, [*SETUP["running"], ("create_child", P1, False), ("start", 2), end])
    assert s.procs[P1].terminated and not s.procs[2].terminated
    t = step(engine, s, "join_timeout", P1)
    assert t.observed == "None"
    assert t.system.procs[P1].handle == ("started" if lags else "stopped")
    # is_alive() polls with waitpid: always right
    assert step(engine, s, "is_alive", P1).observed == "False"
