"""Short scenarios for the termination rules, each replaying an experiment on CPython 3.11.7
(docs/semantics.md E3, E4, E6): who holds a process's exit, who is terminated, who is orphaned."""

from __future__ import annotations

import pytest

from proclife.model.core.base import BASE
from proclife.model.core.engine import Engine
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import START_METHODS, Config, System

MAIN, P1, P2, P3 = 0, 1, 2, 3


class Run:
    """A scenario: predict each action from the initial system; every step must be deterministic."""

    def __init__(self, method: str) -> None:
        self.engine = Engine(BASE, config=Config(start_method=method))
        self.system = System.initial()
        self.fired: list[str] = []

    def do(self, event: str, pid: int, arg: object = NO_ARG, thread: int | None = None) -> Run:
        outcomes = self.engine.predict(self.system, Action(event, pid, thread, arg))
        assert len(outcomes) == 1, f"{event}@P{pid}: {len(outcomes)} outcomes\n{self.system.describe()}"
        self.system = outcomes[0].system
        self.fired += outcomes[0].rules
        return self

    def child(self, parent: int, daemon: bool = False) -> Run:
        pid = len(self.system.procs)
        return self.do("create_child", parent, daemon).do("start", pid)

    def thread(self, pid: int, daemon: bool = False, start: bool = True) -> Run:
        n = len(self.system.procs[pid].threads)
        self.do("create_thread", pid, daemon)
        return self.do("thread_start", pid, thread=n) if start else self

    def life(self, pid: int) -> str:
        return self.system.procs[pid].life

    def ended(self, pid: int) -> bool:
        return self.system.procs[pid].terminated

    def code(self, pid: int) -> int | None:
        return self.system.procs[pid].exitcode


methods = pytest.mark.parametrize("method", START_METHODS)


@methods
def test_a_non_daemon_thread_holds_a_child_in_join_threads(method: str) -> None:
    r = Run(method).child(MAIN).thread(P1).do("target_return", P1)
    assert r.life(P1) == "exiting.join_threads"
    assert r.do("is_alive", P1).system.procs[P1].handle == "started"
    r.do("thread_finish", P1, thread=0)
    assert r.ended(P1) and r.code(P1) == 0
    assert "process.child_joins_threads" in r.fired


@methods
@pytest.mark.parametrize(("daemon", "start"), [(True, True), (False, False)], ids=["daemon", "new"])
def test_a_daemon_thread_or_a_thread_never_started_does_not_hold_the_exit(method: str, daemon: bool,
                                                                          start: bool) -> None:
    r = Run(method).child(MAIN).thread(P1, daemon=daemon, start=start).do("target_return", P1)
    assert r.ended(P1) and r.code(P1) == 0
    assert "process.child_joins_threads" in r.fired


@methods
def test_a_daemonic_child_is_terminated_at_its_parents_exit_before_the_threads_are_joined(method: str) -> None:
    r = Run(method).child(MAIN).thread(P1).child(P1, daemon=True).do("target_return", P1)
    assert r.ended(P2) and r.code(P2) == -15
    assert r.life(P1) == "exiting.join_threads"  # the thread still runs: the daemon went first
    assert r.system.procs[P1].threads[0].life == "running.runnable"


@methods
def test_a_daemonic_child_ignoring_sigterm_holds_its_parent(method: str) -> None:
    r = Run(method).child(MAIN).child(P1, daemon=True).do("install_sigterm", P2, "ignore")
    r.do("target_return", P1)
    assert not r.ended(P2)
    assert r.life(P1) == "exiting.join_children"
    r.do("target_return", P2)
    assert r.ended(P1) and r.code(P2) == 0


@methods
def test_a_child_waits_for_its_non_daemon_children(method: str) -> None:
    r = Run(method).child(MAIN).child(P1).do("target_return", P1)
    assert r.life(P1) == "exiting.join_children"
    r.do("target_return", P2)
    assert r.ended(P1)
    assert r.system.procs[P2].handle == "stopped"  # joined by P1's exit sequence


@methods
def test_a_late_child_is_not_joined_and_is_orphaned(method: str) -> None:
    """A thread starts a child after the target returned: P1 exits without joining it."""
    r = Run(method).child(MAIN).thread(P1).do("target_return", P1)
    assert r.life(P1) == "exiting.join_threads"
    r.child(P1)  # the late child P2, started by the thread
    r.do("thread_finish", P1, thread=0)
    assert r.ended(P1)
    assert not r.ended(P2) and r.system.procs[P2].orphan
    assert r.system.procs[P2].handle == "started"


@methods
def test_a_child_started_by_a_thread_while_the_parent_joins_children_is_orphaned_too(method: str) -> None:
    """E3: active_children() was read before the thread started it."""
    r = Run(method).child(MAIN).thread(P1).child(P1).do("target_return", P1)
    assert r.life(P1) == "exiting.join_children"
    r.child(P1)  # P3
    r.do("thread_finish", P1, thread=0).do("target_return", P2)
    assert r.ended(P1)
    assert not r.ended(P3) and r.system.procs[P3].orphan


@methods
@pytest.mark.parametrize("daemon", [False, True])
def test_os_exit_orphans_children(method: str, daemon: bool) -> None:
    r = Run(method).child(MAIN).thread(P1).child(P1, daemon=daemon).do("os_exit", P1, 3)
    assert r.ended(P1) and r.code(P1) == 3
    assert not r.ended(P2) and r.system.procs[P2].orphan
    assert r.system.procs[P1].threads[0].life == "terminated"  # not joined: gone with the process


@methods
def test_sigterm_ignored_keeps_the_process(method: str) -> None:
    r = Run(method).child(MAIN).do("install_sigterm", P1, "ignore").do("terminate", P1)
    assert r.life(P1) == "running.runnable"
    r.do("sigterm", P1)
    assert r.life(P1) == "running.runnable"
    r.do("kill", P1)
    assert r.ended(P1) and r.code(P1) == -9


@methods
def test_sigterm_by_default_kills_without_cleanup(method: str) -> None:
    r = Run(method).child(MAIN).thread(P1).child(P1).do("terminate", P1)
    assert r.ended(P1) and r.code(P1) == -15
    assert not r.ended(P2) and r.system.procs[P2].orphan


@methods
def test_main_program_joins_threads_then_terminates_daemons_then_joins_children(method: str) -> None:
    r = Run(method).thread(MAIN).child(MAIN, daemon=True).child(MAIN).do("target_return", MAIN)
    # Threads first: the daemonic child is not terminated while a non-daemon thread runs.
    assert r.life(MAIN) == "exiting.join_threads" and not r.ended(P1)
    # Then the daemonic child is terminated, and the main program waits for the other child
    # (joining the daemonic one before or after it: E9, tests/test_exit_joins.py).
    outcomes = r.engine.predict(r.system, Action("thread_finish", MAIN, 0))
    assert len(outcomes) == 2
    for t in outcomes:
        p1, p2 = t.system.procs[P1], t.system.procs[P2]
        assert p1.terminated and p1.exitcode == -15 and t.system.procs[MAIN].life == "exiting.join_children"
        assert not p2.terminated and p2.joining
        (end,) = r.engine.predict(t.system, Action("target_return", P2))
        assert end.system.procs[MAIN].terminated and end.system.procs[MAIN].exitcode == 0
        fired = [x for x in r.fired + list(t.rules + end.rules) if x.startswith("process.main_")]
        assert fired == ["process.main_joins_threads", "process.main_terminates_daemons",
                         "process.main_joins_children"]


@methods
def test_main_program_killed_by_sigterm_orphans_its_children(method: str) -> None:
    r = Run(method).thread(MAIN).child(MAIN, daemon=True).child(MAIN).do("sigterm", MAIN)
    assert r.ended(MAIN) and r.code(MAIN) == -15
    assert all(not r.ended(p) and r.system.procs[p].orphan for p in (P1, P2))


def test_sentinel_lag_under_fork_from_a_late_child() -> None:
    """E6 with E3: the orphaned late child holds the sentinel; is_alive() still sees the end."""
    r = Run("fork").child(MAIN).thread(P1).do("target_return", P1).child(P1).do("thread_finish", P1, thread=0)
    assert r.ended(P1)
    r.do("join_timeout", P1)
    assert r.system.procs[P1].handle == "started"
    assert "handle.join_timeout_lags" in r.fired
    r.do("is_alive", P1)
    assert r.system.procs[P1].handle == "stopped"
