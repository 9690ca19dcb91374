"""The directed phase ends a process every way an end event can, and starts a child under every disposition."""

from __future__ import annotations

import pytest

from proclife.conformance.check import engine_for
from proclife.conformance.plans import plan_for, unperformable_step
from proclife.conformance.variants import DISPOSITION_EVENT, disposition_variants, exit_variants
from proclife.model.core.engine import Bounds
from proclife.model.core.extend import load
from proclife.model.core.system import MAIN
from proclife.runtime.impls import resolve_impl


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_with_the_variants_every_end_argument_ends_the_main_program_and_a_child(method: str) -> None:
    engine = engine_for(load(), resolve_impl(method))
    plan = plan_for(engine, Bounds())
    variants = exit_variants(engine, Bounds(), plan.runs)
    for run in variants:
        assert unperformable_step(engine, Bounds(), run, set()) is None, [a.describe() for a in run]
    ended = {(a.event, a.pid == MAIN, repr(a.arg)) for run in plan.runs + variants for a in run}
    for event in ("sys_exit", "os_exit"):
        for arg in engine.spec.event(event).domains[0]:
            for main in (True, False):
                assert (event, main, repr(arg)) in ended, (event, main, arg)
    assert exit_variants(engine, Bounds(), plan.runs + variants) == []  # nothing left to add


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_child_is_started_under_each_disposition_the_main_program_can_install(method: str) -> None:
    engine = engine_for(load(), resolve_impl(method))
    plan = plan_for(engine, Bounds())
    variants = disposition_variants(engine, Bounds(), plan.runs)
    installed = {run[0].arg for run in variants}
    assert installed >= {"ignore", "exit"}
    for run in variants:
        assert run[0].event == DISPOSITION_EVENT and run[-1].event == "start" and run[-1].pid != MAIN
        assert unperformable_step(engine, Bounds(), run, set()) is None
