"""The hypothesis state machine whose rules are the model's events.

There is no second, hand-written list of operations: ``machine_for`` makes one hypothesis
rule per drivable event of the spec, each drawing among the actions of that event the
model enables in the current state. An extension's new event becomes a new rule.
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
from proclife.runtime.impls import Implementation


def machine_for(
    engine: Engine,
    impl: Implementation,
    bounds: Bounds,
    timing: Timing | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine class that checks ``impl`` against ``engine`` step by step."""
    chosen = timing or Timing()

    class Conformance(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = Runner(engine, impl, chosen)

        def enabled(self, event: str) -> list[Action]:
            return [a for a, _ in engine.enabled(self.runner.system, bounds) if a.event == event]

        def teardown(self) -> None:
            self.runner.close()

    def make_rule(event: str) -> Callable[..., None]:
        def step(self: Any, data: st.DataObject) -> None:
            action = data.draw(st.sampled_from(self.enabled(event)), label=event)
            record = self.runner.step(action)
            if on_step is not None:
                on_step(record)

        step.__name__ = step.__qualname__ = event
        return precondition(lambda self: bool(self.enabled(event)))(rule(data=st.data())(step))

    def quiescent(self: Any) -> None:
        """Nothing more can happen (the main program has ended): the OS must agree, once more."""
        self.runner.recheck()

    rules = [e.name for e in engine.spec.events if e.drive is not None and e.actor != "internal"]
    Conformance.quiescent = precondition(lambda self: not any(self.enabled(e) for e in rules))(rule()(quiescent))

    for event in engine.spec.events:
        if event.drive is not None and event.actor != "internal":
            setattr(Conformance, event.name, make_rule(event.name))
    Conformance.__name__ = f"Conformance_{impl.name.replace('/', '_').replace(':', '_').replace('.', '_')}"
    return Conformance
