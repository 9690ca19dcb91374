"""Real processes agree with the exit join and daemon= default rules (docs/semantics.md E9, E10).

The first path is the one that disagreed intermittently before the exit join order was
modelled: a live daemonic child and a live non-daemon child, then the main program returns.
It is run several times per start method, since which child the main program joins first
changes from run to run.
"""

from __future__ import annotations

import sys

import pytest

from proclife.conformance.runner import run_trace
from proclife.model.core.base import BASE
from proclife.model.core.engine import Engine
from proclife.model.core.semantics import Action
from proclife.model.core.system import START_METHODS, Config, System
from proclife.runtime.impls import resolve_impl

pytestmark = pytest.mark.heavy

EXIT_WITH_TWO_CHILDREN = [
    Action("create_child", 0, arg=True), Action("start", 1),
    Action("create_child", 0, arg=False), Action("start", 2),
    Action("target_return", 0),
    Action("target_return", 2),
]

# Main makes a daemonic thread T0 and blocks; T0 creates and starts P1 without daemon=; P1's
# main thread makes a thread without daemon= and returns. Under fork that thread is daemonic
# (P1's main thread is T0's Thread object), so P1 ends at once; elsewhere P1 waits for it.
DAEMON_DEFAULTS = [
    Action("create_thread", 0, arg=True), Action("thread_start", 0, thread=0),
    Action("block", 0), Action("create_child", 0, arg=None), Action("start", 1),
    Action("create_thread", 1, arg=None), Action("thread_start", 1, thread=0),
    Action("target_return", 1),
]


def engine(method: str) -> Engine:
    python = (sys.version_info.major, sys.version_info.minor)
    return Engine(BASE, config=Config(start_method=method, python=python))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", START_METHODS)
def test_exit_with_a_daemonic_and_a_non_daemon_child_agrees(method: str) -> None:
    for _ in range(3):
        trace = run_trace(engine(method), resolve_impl(method), EXIT_WITH_TWO_CHILDREN)
        assert len(trace) == len(EXIT_WITH_TWO_CHILDREN)


@pytest.mark.parametrize("method", START_METHODS)
def test_daemon_defaults_agree(method: str) -> None:
    eng = engine(method)
    system = System.initial()
    for action in DAEMON_DEFAULTS:
        (t,) = eng.predict(system, action)
        system = t.system
    # The model's answer, which the real run has to match step by step: only under fork P1 has ended.
    assert system.procs[1].terminated is (method == "fork")
    steps = [*DAEMON_DEFAULTS, *([] if method == "fork" else [Action("thread_finish", 1, thread=0)]),
             Action("release", 0), Action("target_return", 0)]
    trace = run_trace(eng, resolve_impl(method), steps)
    assert len(trace) == len(steps)
