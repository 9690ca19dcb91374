"""The hypothesis state machine that walks the model's actions on real processes.

There is no second, hand-written list of operations: at each step ``machine_for``'s one rule
draws among the actions of the spec's drivable events that the model enables in the current
state (an extension's new event is drawn like any other), and a ``quiescent`` rule checks the
end once nothing more can happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from proclife.conformance.report import StepRecord
from proclife.conformance.runner import Runner, Timing
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.semantics import Action
from proclife.model.core.system import MAIN, System
from proclife.runtime.impls import Implementation
from proclife.runtime.prestart import Prestarted

MAIN_END_ODDS = 16
MAIN_ENDS = range(64, 64 + 256 // MAIN_END_ODDS)


def machine_for(
    engine: Engine,
    impl: Implementation,
    bounds: Bounds,
    timing: Timing | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    supply: Prestarted | None = None,
    on_run: Callable[[Runner], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine class that checks ``impl`` against ``engine`` step by step."""
    chosen = timing or Timing()
    drivable = {e.name for e in engine.spec.events if e.drive is not None and e.actor != "internal"}

    def drivable_event(name: str) -> bool:
        return name in drivable

    # The model's drivable actions, once per system (the same systems recur across examples),
    # split by whether some outcome takes the main program out of its target (ends the run).
    by_system: dict[System, tuple[list[Action], list[Action]]] = {}

    def enabled_actions(system: System) -> tuple[list[Action], list[Action]]:
        found = by_system.get(system)
        if found is None:
            others: list[Action] = []
            enders: list[Action] = []
            for action, outcomes in engine.enabled(system, bounds):
                if drivable_event(action.event):
                    ends = action.pid == MAIN and any(not t.system.procs[MAIN].running for t in outcomes)
                    (enders if ends else others).append(action)
            if len(by_system) > 50_000:
                by_system.clear()
            found = by_system[system] = (others, enders)
        return found

    class Conformance(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = Runner(engine, impl, chosen, supply)
            self.rechecked = False

        def enabled_all(self) -> tuple[list[Action], list[Action]]:
            """The actions the model enables now: (those that leave the main program running, those that end it)."""
            return enabled_actions(self.runner.system)

        def teardown(self) -> None:
            try:
                self.runner.recheck()  # drain: a fact that came after the last step still counts
                if on_run is not None and self.runner.trace:
                    on_run(self.runner)
            finally:
                self.runner.close()

    def step(self: Any, data: st.DataObject) -> None:
        """One action among all those the model enables now (one draw: a rule per event made
        hypothesis test every rule's precondition at every step, most of a step's cost)."""
        others, enders = self.enabled_all()
        # Ending the main program ends everything the run has built: drawn as often as any
        # other action, it cut most runs to two or three steps. It is drawn about one step in
        # MAIN_END_ODDS: a value in the middle of a wide range ends it (hypothesis favours the
        # ends of a range, 0 and the largest, far beyond their share).
        if enders and others:
            end_now = data.draw(st.integers(0, 255), label="end the main program (64..95)") in MAIN_ENDS
            choices = enders if end_now else others
        else:
            choices = enders or others
        action = data.draw(st.sampled_from(choices), label="action")
        record = self.runner.step(action)
        if on_step is not None:
            on_step(record)

    def quiescent(self: Any) -> None:
        """Nothing more can happen (the main program has ended): the OS must agree, once more."""
        if not self.rechecked:
            self.rechecked = True
            self.runner.recheck()

    Conformance.step = precondition(lambda self: any(self.enabled_all()))(rule(data=st.data())(step))
    Conformance.quiescent = precondition(lambda self: not any(self.enabled_all()))(rule()(quiescent))
    Conformance.__name__ = f"Conformance_{impl.name.replace('/', '_').replace(':', '_').replace('.', '_')}"
    return Conformance
