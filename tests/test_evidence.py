"""Each process's own account held against the model: contradictions, expectations, and on real processes."""

from __future__ import annotations

import sys

import pytest

from proclife.conformance.evidence import Accounts, contradictions, decided, joined_out_of_order, unmet
from proclife.conformance.report import Disagreement
from proclife.conformance.runner import Timing, run_trace
from proclife.model.core.base import JOIN_CHILDREN, JOIN_THREADS, RUNNABLE
from proclife.model.core.engine import Engine
from proclife.model.core.extend import load
from proclife.model.core.lives import REAPED
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import Config, ProcState, System
from proclife.runtime.events import Lifecycle
from proclife.runtime.impls import resolve_impl
from proclife.runtime.observer import Event

OS = {0: 100, 1: 101, 2: 102}  # model pid -> OS pid


def event(kind: str, pid: int = 100, end: int | None = None, begin: int = 1, **details: object) -> Event:
    return Event(pid, pid, "MainThread", False, kind, begin, end, dict(details))


def account(*events: Event, pid: int = 100) -> Lifecycle:
    seen = Lifecycle(pid)
    for e in (event("observer_installed", pid, unhooked=[]), *events):
        seen.feed(e)
    return seen


def accounts(by_model_pid: dict[int, Lifecycle], ended: frozenset[int] = frozenset()) -> Accounts:
    back = {v: k for k, v in OS.items()}
    return Accounts(by_model_pid.get, OS.get, back.get, ended.__contains__)


def main_exiting(life: str, *children: ProcState) -> System:
    return System((ProcState(parent=None, daemon=False, life=life, handle=None), *children))


def child(daemon: bool = False, life: str = RUNNABLE, joining: bool = False) -> ProcState:
    return ProcState(parent=0, daemon=daemon, life=life, handle="started", awaited=True, joining=joining)


def test_a_process_the_model_keeps_in_its_target_must_not_have_left_it() -> None:
    system = System.initial()
    left = account(event("exit_step_begin", step="threading._shutdown", caller="interpreter", repeat=False))
    assert contradictions(system, accounts({0: account()})) == []
    found = contradictions(system, accounts({0: left}))
    assert len(found) == 1 and "left its target" in found[0] and RUNNABLE in found[0]


def test_a_process_the_model_keeps_exiting_must_not_have_finished() -> None:
    system = main_exiting(JOIN_THREADS)
    finished = account(event("exit_step_begin", step="threading._shutdown", repeat=False),
                       event("os_exit", code=0))
    assert any("finished" in m for m in contradictions(system, accounts({0: finished})))


def test_bootstrap_returning_its_code_is_not_an_end() -> None:
    """3.13: a forked child's atexit functions (the children join among them) run after _bootstrap returns."""
    system = main_exiting(JOIN_CHILDREN, child(joining=True))
    returned = account(event("exit_step_begin", step="threading._shutdown", repeat=False),
                       event("exit_step", step="threading._shutdown", end=2), event("exit_status", exitcode=0))
    assert contradictions(system, accounts({0: returned})) == []


def test_an_exit_step_that_returned_ends_the_phase_it_holds() -> None:
    """A main program the model holds joining a child must not have returned from util._exit_function."""
    system = main_exiting(JOIN_CHILDREN, child(joining=True))
    in_exit = event("exit_step_begin", step="util._exit_function", repeat=False)
    left = account(in_exit, event("exit_step", step="util._exit_function", end=2))
    assert any("util._exit_function returned" in m for m in contradictions(system, accounts({0: left})))
    repeat = account(in_exit, event("exit_step_begin", step="util._exit_function", repeat=True))
    assert contradictions(system, accounts({0: repeat})) == []


def test_os_exit_of_a_non_int_is_not_an_end() -> None:
    """os._exit(None) raises TypeError in the target, which then ends as by a raise."""
    system = main_exiting(JOIN_THREADS)
    raised = account(event("exit_step_begin", step="threading._shutdown", repeat=False), event("os_exit", code=None))
    assert contradictions(system, accounts({0: raised})) == []


def test_an_exit_join_of_threads_is_awaited_until_the_observer_shows_it() -> None:
    system = main_exiting(JOIN_THREADS)
    begun = account(event("exit_step_begin", step="threading._shutdown", repeat=False))
    assert set(unmet(system, accounts({0: begun}))) == {0}
    assert not decided(system, accounts({0: begun}), ended=lambda pid: False)
    assert decided(system, accounts({0: begun}), ended=lambda pid: pid == 0)  # its end decides too
    joining = account(event("exit_step_begin", step="threading._shutdown", repeat=False),
                      event("thread_join", via="threading._shutdown", name="T0"))
    assert unmet(system, accounts({0: joining})) == {}
    joined = account(event("exit_step_begin", step="threading._shutdown", repeat=False),
                     event("thread_join", via="threading._shutdown", name="T0"),
                     event("thread_joined", via="threading._shutdown", name="T0", end=2))
    assert set(unmet(system, accounts({0: joined}))) == {0}  # that join is over: not held there any more


def test_the_exit_join_must_be_of_the_child_the_model_says() -> None:
    system = main_exiting(JOIN_CHILDREN, child(), child(joining=True))
    in_exit = event("exit_step_begin", step="util._exit_function", repeat=False)
    of_p2 = account(in_exit, event("child_join", child=102, timeout=None))
    of_p1 = account(in_exit, event("child_join", child=101, timeout=None))
    assert unmet(system, accounts({0: of_p2})) == {} and contradictions(system, accounts({0: of_p2})) == []
    assert set(unmet(system, accounts({0: of_p1}))) == {0}
    assert any("joining P1; the model says P2" in m for m in contradictions(system, accounts({0: of_p1})))
    # a join of a child the model has already seen end is not a contradiction: its return is on its way
    ended = main_exiting(JOIN_CHILDREN, child(life="terminated.reaped"), child(joining=True))
    assert contradictions(ended, accounts({0: of_p1})) == []


def test_an_exit_sequence_joining_a_child_has_not_reaped_a_zombie_it_never_joined() -> None:
    """The model's order (P2 joined and reaped, then P1's join begun) against an account that shows
    P1's join begun and none of P2's while the kernel still holds P2: that order did not happen, and
    a wait for P2's reaping ends at once (a wait, not a finding: never a contradiction)."""
    reaped_first = main_exiting(JOIN_CHILDREN, child(joining=True), child(life=REAPED))
    in_exit = event("exit_step_begin", step="util._exit_function", repeat=False)
    joining_p1 = account(in_exit, event("child_join", child=101, timeout=None))
    zombies = {(2, 100)}  # (model pid, OS parent) the kernel shows as a zombie of that parent
    found = joined_out_of_order(reaped_first, accounts({0: joining_p1}), lambda c, p: (c, p) in zombies)
    assert found == ["P0: its observer reports its exit sequence joining P1 without having joined P2, still a "
                     "zombie; the model says it reaped P2 first"]
    assert contradictions(reaped_first, accounts({0: joining_p1})) == []
    # not when P2's join came first, nor once the kernel no longer holds P2 (reaped by the poll of
    # active_children(): no join of it), nor when P2 is another process's zombie
    joined_p2 = account(in_exit, event("child_join", child=102, timeout=None),
                        event("child_joined", end=2, child=102, returncode=-15, kernel="gone"),
                        event("child_join", child=101, timeout=None))
    assert joined_out_of_order(reaped_first, accounts({0: joined_p2}), lambda c, p: (c, p) in zombies) == []
    assert joined_out_of_order(reaped_first, accounts({0: joining_p1}), lambda c, p: False) == []
    assert joined_out_of_order(reaped_first, accounts({0: joining_p1}), lambda c, p: (c, p) == (2, 999)) == []
    # nor when the model does not say P2 was reaped, or says no join is in progress
    still_zombie = main_exiting(JOIN_CHILDREN, child(joining=True), child(life="terminated.zombie"))
    assert joined_out_of_order(still_zombie, accounts({0: joining_p1}), lambda c, p: (c, p) in zombies) == []
    no_join = main_exiting(JOIN_CHILDREN, child(), child(life=REAPED))
    assert joined_out_of_order(no_join, accounts({0: joining_p1}), lambda c, p: (c, p) in zombies) == []


def test_an_exit_join_of_a_daemonic_child_must_follow_its_sigterm() -> None:
    system = main_exiting(JOIN_CHILDREN, child(daemon=True), child(joining=True))
    in_exit = event("exit_step_begin", step="util._exit_function", repeat=False)
    unsignalled = account(in_exit, event("child_join", child=101, timeout=None))
    assert any("daemonic child P1 without having sent it SIGTERM" in m
               for m in contradictions(system, accounts({0: unsignalled})))
    signalled = account(in_exit, event("terminate", child=101, how="terminate"),
                        event("child_join", child=101, timeout=None))
    assert not any("daemonic" in m for m in contradictions(system, accounts({0: signalled})))


def test_an_exit_sequence_that_returns_with_a_daemonic_child_unsignalled_and_running_is_caught() -> None:
    """No wait for an end that will not come: util._exit_function SIGTERMs every live daemonic child."""
    ended = main_exiting(REAPED, child(daemon=True, life=REAPED))  # the model: the exit ended P1
    exit_function = (event("exit_step_begin", begin=5, step="util._exit_function", repeat=False),
                     event("exit_step", begin=5, end=6, step="util._exit_function"))
    spared = account(*exit_function)
    running = account(pid=101)  # installed at time 1, before the exit began, still in its target
    found = contradictions(ended, accounts({0: spared, 1: running}))
    assert len(found) == 1 and "without sending SIGTERM to its daemonic child P1" in found[0]
    signalled = account(event("terminate", child=101), *exit_function)
    assert contradictions(ended, accounts({0: signalled, 1: running})) == []
    # Not a broken exit sequence: a child that ended by itself, or is ending, or was started after it began.
    assert contradictions(ended, accounts({0: spared, 1: running}, ended=frozenset({1}))) == []
    leaving = account(event("target_end", pid=101), pid=101)
    assert contradictions(ended, accounts({0: spared, 1: leaving})) == []
    late = Lifecycle(101)
    late.feed(event("observer_installed", pid=101, begin=7, unhooked=[]))
    assert contradictions(ended, accounts({0: spared, 1: late})) == []
    # Nor a non-daemonic child, which the exit joins instead.
    joined = main_exiting(REAPED, child(daemon=False, life=REAPED))
    assert contradictions(joined, accounts({0: spared, 1: running})) == []


def test_a_join_with_a_timeout_is_not_an_exit_join() -> None:
    system = main_exiting(JOIN_CHILDREN, child(joining=True))
    timed = account(event("exit_step_begin", step="util._exit_function", repeat=False),
                    event("child_join", child=101, timeout=0.1))
    assert set(unmet(system, accounts({0: timed}))) == {0}


def test_a_process_whose_observer_could_not_hook_everything_is_held_to_contradictions_only() -> None:
    seen = Lifecycle(100)
    seen.feed(event("observer_installed", unhooked=["billiard.util:_exit_function"]))
    assert unmet(main_exiting(JOIN_THREADS), accounts({0: seen})) == {}


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_main_program_held_by_a_child_shows_that_join_on_real_processes(method: str) -> None:
    """P0 returns with a live non-daemon child: the model holds it joining P1, its observer shows it."""
    engine = Engine(load().spec, load().semantics, Config(start_method=method, python=sys.version_info[:2]))  # type: ignore[arg-type]
    actions = [Action("create_child", 0, None, False), Action("start", 1, None, NO_ARG),
               Action("target_return", 0, None, NO_ARG), Action("target_return", 1, None, NO_ARG)]
    records = run_trace(engine, resolve_impl(method), actions, Timing())
    assert [r.action for r in records] == actions


@pytest.mark.heavy
def test_an_exit_sequence_that_joins_a_daemonic_child_unsignalled_is_caught_by_its_account() -> None:
    impl = resolve_impl("examples.broken_impls:DAEMONS_JOINED")
    engine = Engine(load().spec, load().semantics, Config(start_method="fork", python=sys.version_info[:2]))
    actions = [Action("create_child", 0, None, True), Action("start", 1, None, NO_ARG),
               Action("target_return", 0, None, NO_ARG)]
    with pytest.raises(Disagreement) as caught:
        run_trace(engine, impl, actions, Timing())
    found = caught.value
    assert found.action == actions[-1]
    assert any("joining the daemonic child P1 without having sent it SIGTERM" in m for m in found.mismatches), \
        found.explain()


def test_a_join_that_returns_and_leaves_a_zombie_contradicts_a_reaped_child() -> None:
    from proclife.model.core.base import REAPED, ZOMBIE

    joined_zombie = event("child_joined", child=101, returncode=-15, kernel="zombie", status=-15)
    joined_reaped = event("child_joined", child=101, returncode=-15, kernel="gone", status=None)
    reaped, zombie = main_exiting(RUNNABLE, child(life=REAPED)), main_exiting(RUNNABLE, child(life=ZOMBIE))
    found = contradictions(reaped, accounts({0: account(joined_zombie)}))
    assert len(found) == 1 and "still a zombie" in found[0] and "P1" in found[0]
    assert contradictions(zombie, accounts({0: account(joined_zombie)})) == []  # the model agrees: no join reaped it
    assert contradictions(reaped, accounts({0: account(joined_reaped)})) == []
    # a join that timed out (returncode None) reaps nothing and claims nothing
    timed_out = event("child_joined", child=101, returncode=None, kernel="zombie", status=-15)
    assert contradictions(reaped, accounts({0: account(timed_out)})) == []


def test_a_model_view_rebuilt_from_plain_data_is_judged_as_the_model_state_itself() -> None:
    """What a reproducer script holds its run to is what the runner holds it to."""
    from proclife.conformance.evidence import ModelView

    unsignalled = account(event("exit_step_begin", step="util._exit_function", repeat=False),
                          event("child_join", child=101, timeout=None))
    for system in (main_exiting(JOIN_CHILDREN, child(daemon=True, joining=True)),
                   main_exiting(JOIN_CHILDREN, child(joining=True), child()),
                   main_exiting(JOIN_THREADS, child()), main_exiting(RUNNABLE, child())):
        view = ModelView(ModelView.plain(system))
        for seen in (unsignalled, account()):
            assert contradictions(view, accounts({0: seen})) == contradictions(system, accounts({0: seen}))
            assert unmet(view, accounts({0: seen})) == unmet(system, accounts({0: seen}))


def test_an_unmet_expectation_says_whether_the_bound_was_awaited() -> None:
    """An expectation is awaited the whole bound only when nothing contradicts the model; a
    contradiction ends the wait, and the report must not claim the bound was waited out."""
    from proclife.conformance.evidence import differences

    system = main_exiting(JOIN_CHILDREN, child(joining=True))
    begun = event("exit_step_begin", step="util._exit_function", repeat=False)
    waited = differences(system, accounts({0: account(begun)}), 10.0)
    assert len(waited) == 1 and waited[0].endswith("awaited up to 10.0s")
    returned = account(begun, event("exit_step", step="util._exit_function"))
    cut = differences(system, accounts({0: returned}), 10.0)
    assert any("returned, but the model says it is still in it" in m for m in cut)
    (unshown,) = [m for m in cut if "did not show it" in m]
    assert unshown.endswith("a contradiction decided the step")
