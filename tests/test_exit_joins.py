"""The exit sequence's children join and the daemon= default, as CPython has them (docs/semantics.md E9, E10).

E9: ``util._exit_function`` polls the children that have ended (``active_children()`` ->
``_cleanup()``), SIGTERMs the live daemonic ones, then joins the rest one at a time from a
set: any order, each reaped as its join returns, a SIGTERMed child possibly polled away by
the second ``_cleanup()`` (the same as being joined first). E10: ``Process()`` without
``daemon=`` copies the creating process's flag, ``Thread()`` the creating thread's, and under
fork a child's main thread is the Thread object of the parent's thread that called start().
"""

from __future__ import annotations

import pytest

from proclife.model.core.base import BASE, JOIN_CHILDREN, REAPED, ZOMBIE
from proclife.model.core.engine import Engine, Transition
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import START_METHODS, Config, System

MAIN, P1, P2 = 0, 1, 2
methods = pytest.mark.parametrize("method", START_METHODS)


def run(method: str, steps: list[Action], python: tuple[int, int] = (3, 11)) -> list[Transition]:
    """Every outcome of the last step, from the one system the steps before it lead to."""
    engine = Engine(BASE, config=Config(start_method=method, python=python))  # type: ignore[arg-type]
    system = System.initial()
    for action in steps[:-1]:
        outcomes = engine.predict(system, action)
        assert len(outcomes) == 1, f"{action.describe()}: {len(outcomes)} outcomes"
        system = outcomes[0].system
    return engine.predict(system, steps[-1])


def child(parent: int, pid: int, daemon: object) -> list[Action]:
    return [Action("create_child", parent, arg=daemon), Action("start", pid)]


def joined(t: Transition, pid: int) -> bool:
    """The exit sequence's join of ``pid`` has returned (or _cleanup polled it): handle stopped, status collected."""
    p = t.system.procs[pid]
    return p.handle == "stopped" and p.life == REAPED and not p.awaited


def unjoined_zombie(t: Transition, pid: int, method: str) -> bool:
    """``pid`` has ended but nobody polled it: its handle says started (the forkserver reaped it all the same)."""
    p = t.system.procs[pid]
    return p.handle == "started" and p.awaited and not p.joining and p.life == (REAPED if method == "forkserver"
                                                                                 else ZOMBIE)


@methods
@pytest.mark.parametrize("python", [(3, 11), (3, 13)])
def test_the_daemonic_child_may_be_reaped_before_or_after_the_other(method: str, python: tuple[int, int]) -> None:
    """The issue's path: a live daemonic and a live non-daemon child, then the main program returns."""
    outs = run(method, [*child(MAIN, P1, True), *child(MAIN, P2, False), Action("target_return", MAIN)], python)
    assert all(t.system.procs[MAIN].life == JOIN_CHILDREN and t.system.procs[P2].joining for t in outs)
    assert all(t.system.procs[P1].exitcode == -15 for t in outs)
    # Exactly two: P1 joined (or polled away) first, or P2's join holds P1 a zombie.
    assert len(outs) == 2
    assert sum(joined(t, P1) for t in outs) == 1
    assert sum(unjoined_zombie(t, P1, method) for t in outs) == 1


@methods
def test_the_join_order_is_any_and_each_child_is_reaped_as_its_join_returns(method: str) -> None:
    live = [*child(MAIN, P1, False), *child(MAIN, P2, False)]
    outs = run(method, [*live, Action("target_return", MAIN)])
    assert sorted(next(p for p in (P1, P2) if t.system.procs[p].joining) for t in outs) == [P1, P2]
    engine = Engine(BASE, config=Config(start_method=method))
    for t in outs:
        first = P1 if t.system.procs[P1].joining else P2
        other = P2 if first == P1 else P1
        # The other child ends first: its join has not begun, so it waits unpolled.
        (after,) = engine.predict(t.system, Action("target_return", other))
        assert unjoined_zombie(after, other, method) and after.system.procs[first].joining
        # The joined child ends: its join returns, the other's returns at once, the main program ends.
        (done,) = engine.predict(after.system, Action("target_return", first))
        assert joined(done, first) and joined(done, other) and done.system.procs[MAIN].exitcode == 0
        # Or the joined child ends first: its join returns and the other's begins.
        (nxt,) = engine.predict(t.system, Action("target_return", first))
        assert joined(nxt, first) and nxt.system.procs[other].joining
        assert [r for r in nxt.rules if r.startswith("handle.")] == [
            "handle.exit_join_returns", "handle.exit_join_begins"]


@methods
def test_a_child_ended_before_the_exit_is_polled_by_the_first_cleanup(method: str) -> None:
    """Deterministic: the first active_children() reaps it before any SIGTERM or join."""
    # P1 ends after P2's start(): that start's _cleanup() would poll it already.
    steps = [*child(MAIN, P1, False), *child(MAIN, P2, False), Action("target_return", P1),
             Action("target_return", MAIN)]
    outs = run(method, steps)
    assert len(outs) == 1
    (t,) = outs
    assert t.system.procs[P1].handle == "stopped" and not t.system.procs[P1].awaited
    assert t.system.procs[P2].joining
    rules = list(t.rules)
    assert "handle.exit_join_begins" in rules and "handle.exit_join_returns" not in rules


def test_a_closed_child_is_not_joined() -> None:
    """close() takes a child out of _children: the exit sequence does not wait for it."""
    steps = [*child(MAIN, P1, False), Action("target_return", P1), Action("close", P1), Action("target_return", MAIN)]
    (t,) = run("fork", steps)
    assert t.system.procs[MAIN].exitcode == 0 and t.system.procs[P1].handle == "closed"


@methods
def test_process_without_daemon_takes_the_creating_process_flag(method: str) -> None:
    (t,) = run(method, [Action("create_child", MAIN, arg=None)])
    assert t.system.procs[P1].daemon is False
    (t,) = run(method, [Action("create_child", MAIN, arg=True), Action("start", P1),
                        Action("create_child", P1, arg=None)])
    assert t.system.procs[P2].daemon is True


def thread_made_by(actor: str | int) -> list[Action]:
    """Main makes a daemonic T0, blocks, and T0 acts; or main acts itself."""
    steps = [Action("create_thread", MAIN, arg=True), Action("thread_start", MAIN, thread=0)]
    if actor != "main":
        steps.append(Action("block", MAIN))
    return [*steps, Action("create_thread", MAIN, arg=None, actor=actor)]


@methods
def test_thread_without_daemon_takes_the_creating_thread_flag(method: str) -> None:
    (t,) = run(method, thread_made_by("main"))
    assert [th.daemon for th in t.system.procs[MAIN].threads] == [True, False]
    (t,) = run(method, thread_made_by(0))
    assert [th.daemon for th in t.system.procs[MAIN].threads] == [True, True]
    # The implicit actor of a blocked main thread is its first runnable thread: the same T0.
    (t,) = run(method, thread_made_by(0)[:-1] + [Action("create_thread", MAIN, arg=None)])
    assert [th.daemon for th in t.system.procs[MAIN].threads] == [True, True]


@methods
def test_under_fork_a_child_started_by_a_daemon_thread_has_a_daemonic_main_thread(method: str) -> None:
    steps = [Action("create_thread", MAIN, arg=True), Action("thread_start", MAIN, thread=0),
             Action("create_child", MAIN, arg=False), Action("block", MAIN), Action("start", P1),
             Action("create_thread", P1, arg=None)]
    (t,) = run(method, steps)
    expected = method == "fork"
    assert t.system.procs[P1].main_daemon is expected
    assert t.system.procs[P1].threads[0].daemon is expected
    # Started by the (non-daemonic) main thread instead: never.
    (t,) = run(method, [*child(MAIN, P1, False), Action("create_thread", P1, arg=None)])
    assert t.system.procs[P1].main_daemon is False and t.system.procs[P1].threads[0].daemon is False


def test_an_unspecified_daemon_is_offered_for_both_create_events() -> None:
    for name in ("create_child", "create_thread"):
        assert None in BASE.event(name).domains[0]
    engine = Engine(BASE)
    offered = {(a.event, a.arg) for a in engine.candidates(System.initial())}
    assert {("create_child", None), ("create_thread", None)} <= offered
    assert NO_ARG not in {a.arg for a in engine.candidates(System.initial()) if a.event.startswith("create_")}
