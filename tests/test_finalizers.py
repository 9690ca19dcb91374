"""The exit sequence's finalizers and threading's exit callbacks, as CPython has them (docs/semantics.md E11).

``util._exit_function`` ends with ``_run_finalizers()``: there a Queue's feeder thread (a daemon
thread) is joined at priority -5, so a process that put more than the pipe holds cannot end
until a reader takes it, after its children are joined (the "joining processes that use
queues" deadlock), unless ``cancel_join_thread()`` was called. ``threading._shutdown()`` calls
the ``threading._register_atexit`` callbacks before it joins the threads.
"""

from __future__ import annotations

import pytest

from proclife.model.core.base import (
    BASE,
    BLOCKED,
    JOIN_CHILDREN,
    JOIN_THREADS,
    RUN_FINALIZERS,
    RUNNABLE,
    ZOMBIE,
)
from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.semantics import Action
from proclife.model.core.system import START_METHODS, Config, System

MAIN, P1 = 0, 1
PYTHONS = [(3, 11), (3, 13)]
methods = pytest.mark.parametrize("method", START_METHODS)
pythons = pytest.mark.parametrize("python", PYTHONS)


def walk(steps: list[Action], method: str = "fork", python: tuple[int, int] = (3, 11)) -> Transition:
    """The one outcome of ``steps`` (each must have exactly one)."""
    engine = Engine(BASE, config=Config(start_method=method, python=python))  # type: ignore[arg-type]
    system = System.initial()
    out: Transition | None = None
    for action in steps:
        outcomes = engine.predict(system, action)
        assert len(outcomes) == 1, f"{action.describe()}: {[t.rules for t in outcomes]}"
        out = outcomes[0]
        system = out.system
    assert out is not None
    return out


def enabled(steps: list[Action], action: Action, python: tuple[int, int] = (3, 11)) -> bool:
    """The model offers ``action`` (some thread may perform it, and a rule allows it) after ``steps``."""
    engine = Engine(BASE, config=Config(python=python))
    system = walk(steps, python=python).system if steps else System.initial()
    return action._replace(actor=None) in [a for a, _ in engine.enabled(system, Bounds(procs=2, threads=3))]


CHILD_PUTS = [Action("create_child", MAIN, arg=False), Action("start", P1), Action("queue_put", P1)]


@methods
@pytest.mark.parametrize("python", PYTHONS)
def test_a_child_that_put_more_than_the_pipe_holds_waits_in_its_finalizers(
        method: str, python: tuple[int, int]) -> None:
    """The guidelines' deadlock: the child's exit waits for a reader, after its children joins."""
    t = walk([*CHILD_PUTS, Action("target_return", P1)], method, python)
    child = t.system.procs[P1]
    assert child.life == RUN_FINALIZERS
    assert child.threads[0].kind == "feeder" and child.threads[0].daemon and child.threads[0].life == BLOCKED
    assert [r for r in t.rules if "finalizers" in r] == (
        ["process.child_joins_children_to_finalizers"] if python == (3, 11)
        else ["process.child_joins_children_to_finalizers_atexit"])
    # A reader takes the data: the feeder's join returns and the child ends.
    ended = walk([*CHILD_PUTS, Action("target_return", P1), Action("thread_release", P1, thread=0)], method, python)
    assert ended.system.procs[P1].terminated and ended.system.procs[P1].threads[0].life == "terminated"
    assert "process.child_runs_finalizers" + ("" if python == (3, 11) else "_atexit") in ended.rules


@pythons
def test_a_flushed_feeder_does_not_hold_the_exit(python: tuple[int, int]) -> None:
    t = walk([*CHILD_PUTS, Action("thread_release", P1, thread=0), Action("target_return", P1)], python=python)
    assert t.system.procs[P1].life == ZOMBIE and t.system.procs[P1].threads[0].life == "terminated"
    assert any(r.startswith("process.child_runs_finalizers") for r in t.rules)  # joined, at once


@pythons
def test_cancel_join_thread_lets_the_process_end_with_the_data_unwritten(python: tuple[int, int]) -> None:
    steps = [*CHILD_PUTS, Action("cancel_join_thread", P1, thread=0), Action("target_return", P1)]
    t = walk(steps, python=python)
    assert t.system.procs[P1].life == ZOMBIE and t.system.procs[P1].exitcode == 0
    assert "thread.cancel_join_thread" in walk(steps[:4], python=python).rules
    assert not enabled(steps[:4], Action("cancel_join_thread", P1, thread=0), python)  # once is all


def test_the_main_program_joins_its_feeder_after_its_children() -> None:
    steps = [Action("queue_put", MAIN), Action("create_child", MAIN, arg=False), Action("start", P1),
             Action("target_return", MAIN)]
    t = walk(steps)
    assert t.system.procs[MAIN].life == JOIN_CHILDREN  # the child first
    t = walk([*steps, Action("target_return", P1)])
    assert t.system.procs[MAIN].life == RUN_FINALIZERS and "process.main_joins_children_to_finalizers" in t.rules


@pythons
def test_a_feeder_performs_no_action_of_the_program(python: tuple[int, int]) -> None:
    """The feeder runs the queue's code: once the main thread blocks, nothing of the program can act."""
    steps = [Action("queue_put", MAIN), Action("thread_release", MAIN, thread=0), Action("block", MAIN)]
    assert walk(steps, python=python).system.procs[MAIN].threads[0].life == RUNNABLE
    assert not enabled(steps, Action("create_child", MAIN, arg=False), python)
    assert not enabled(steps[:1], Action("thread_finish", MAIN, thread=0), python)
    assert not enabled(steps[:2], Action("thread_block", MAIN, thread=0), python)


@pythons
def test_a_feeder_started_once_the_finalizers_ran_is_not_joined(python: tuple[int, int]) -> None:
    """_run_finalizers() reads its registry once: a Queue made by a thread after that is not joined."""
    steps = [*CHILD_PUTS, Action("create_thread", P1, arg=False), Action("thread_start", P1, thread=1),
             Action("target_return", P1)]
    during = walk(steps, python=python).system.procs[P1].life
    assert during == (RUN_FINALIZERS if python == (3, 11) else JOIN_THREADS)
    if python == (3, 11):
        # The thread puts while the finalizers wait on the first feeder: nobody joins the second.
        t = walk([*steps, Action("queue_put", P1, actor=1), Action("thread_release", P1, thread=0)], python=python)
        assert t.system.procs[P1].threads[2].kind == "feeder_unjoined"
        assert t.system.procs[P1].life == JOIN_THREADS  # the thread's own join holds it now


THREAD_BLOCKED = [Action("create_thread", MAIN, arg=False), Action("thread_start", MAIN, thread=0),
                  Action("thread_block", MAIN, thread=0)]


@pythons
def test_an_atexit_callback_releases_its_thread_before_the_threads_are_joined(python: tuple[int, int]) -> None:
    """What ProcessPoolExecutor relies on: its manager thread is woken when the main program exits."""
    released = walk([*THREAD_BLOCKED, Action("register_atexit", MAIN, thread=0), Action("target_return", MAIN)],
                    python=python)
    assert released.system.procs[MAIN].life == JOIN_THREADS
    assert released.system.procs[MAIN].threads[0] == (False, RUNNABLE, "thread")  # released, the callback used
    held = walk([*THREAD_BLOCKED, Action("target_return", MAIN)], python=python)
    assert held.system.procs[MAIN].threads[0].life == BLOCKED


@pythons
def test_register_atexit_is_refused_once_threading_shut_down(python: tuple[int, int]) -> None:
    """_register_atexit raises once _shutdown has begun: the model does not offer it from then on."""
    steps = [Action("create_thread", MAIN, arg=False), Action("thread_start", MAIN, thread=0),
             Action("create_thread", MAIN, arg=False), Action("thread_start", MAIN, thread=1),
             Action("target_return", MAIN)]
    assert not enabled(steps, Action("register_atexit", MAIN, thread=1, actor=0), python)
    assert enabled(steps[:-1], Action("register_atexit", MAIN, thread=1), python)
