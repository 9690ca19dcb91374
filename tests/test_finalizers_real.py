"""Real processes agree with the finalizer rules (docs/semantics.md E11), on every start method.

Each path is replayed by the conformance runner, which holds every step to the model: the
results, the OS state, the exit statuses and each process's own account of its exit sequence
(a process the model keeps joining its Queue's feeder thread must report that join).
"""

from __future__ import annotations

import sys

import pytest

from proclife.conformance.runner import run_trace
from proclife.model.core.base import BASE, JOIN_THREADS, RUN_FINALIZERS
from proclife.model.core.engine import Engine
from proclife.model.core.semantics import Action
from proclife.model.core.system import START_METHODS, Config, System
from proclife.runtime.impls import resolve_impl

pytestmark = pytest.mark.heavy

# The guidelines' deadlock, untied: P1 puts more than the pipe holds and returns; it waits in its
# finalizers until P0 reads (here P1's own agent reads, from another thread); then P0 joins it.
CHILD_PUTS = [Action("create_child", 0, arg=False), Action("start", 1), Action("queue_put", 1),
              Action("target_return", 1), Action("thread_release", 1, thread=0), Action("join", 1),
              Action("target_return", 0)]
# The main program's feeder joined after its thread join, which a _register_atexit callback unblocks.
MAIN_PUTS = [Action("queue_put", 0), Action("create_thread", 0, arg=False), Action("thread_start", 0, thread=1),
             Action("thread_block", 0, thread=1), Action("register_atexit", 0, thread=1),
             Action("target_return", 0), Action("thread_finish", 0, thread=1), Action("thread_release", 0, thread=0)]
# cancel_join_thread(): the child ends with its data unread.
CANCELLED = [Action("create_child", 0, arg=False), Action("start", 1), Action("queue_put", 1),
             Action("cancel_join_thread", 1, thread=0), Action("target_return", 1), Action("join", 1),
             Action("target_return", 0)]


def engine(method: str) -> Engine:
    python = (sys.version_info.major, sys.version_info.minor)
    return Engine(BASE, config=Config(start_method=method, python=python))  # type: ignore[arg-type]


def lives(eng: Engine, steps: list[Action], pid: int) -> list[str]:
    """The model's life of ``pid`` after each step (each step has one outcome)."""
    system, out = System.initial(), []
    for action in steps:
        (t,) = eng.predict(system, action)
        system = t.system
        out.append(system.procs[pid].life if pid < len(system.procs) else "none")
    return out


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize(("steps", "pid", "held"), [(CHILD_PUTS, 1, {3: RUN_FINALIZERS}),
                                                    (MAIN_PUTS, 0, {5: JOIN_THREADS, 6: RUN_FINALIZERS}),
                                                    (CANCELLED, 1, {})],
                         ids=["child-puts", "main-puts", "cancelled"])
def test_finalizer_paths_agree(method: str, steps: list[Action], pid: int, held: dict[int, str]) -> None:
    eng = engine(method)
    model = lives(eng, steps, pid)
    # Where the model keeps the process joining (a feeder, a thread), the real one must report that join.
    assert {i: model[i] for i in held} == held and (held or RUN_FINALIZERS not in model), model
    trace = run_trace(eng, resolve_impl(method), steps)
    assert len(trace) == len(steps)
