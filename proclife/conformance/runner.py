"""One real system beside the model: perform an action on both, compare, keep going.

Immediate observations (a call's result or exception) are compared at once; eventual
ones (processes that may now end) are awaited on events by the driver, then the OS view is
compared. Where the model allows several outcomes, the step agrees if reality matches any
one of them, and the run continues from that one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proclife.conformance.report import Disagreement, StepRecord
from proclife.model.core.engine import Engine, Transition
from proclife.model.core.semantics import Action
from proclife.model.core.system import System
from proclife.runtime.driver import Driver
from proclife.runtime.errors import AgentGoneError
from proclife.runtime.impls import Implementation
from proclife.runtime.observe import expected_os


@dataclass(frozen=True)
class Timing:
    """How long a join(timeout) waits, and the bound on every wait for an eventual outcome."""

    join_timeout: float = 0.05
    bound: float = 10.0
    optimize: bool = False  # run the agents under `python -O`
    grace: float = 0.2  # how long a process the step could have ended must stay alive


def drivable(engine: Engine) -> Callable[[Action], bool]:
    """The actions the runtime can perform: events with a ``drive``."""

    def check(action: Action) -> bool:
        return engine.event(action.event).drive is not None

    return check


@dataclass
class Runner:
    """A fresh real system (a Driver) and the model's view of it, advanced together."""

    engine: Engine
    impl: Implementation
    timing: Timing = field(default_factory=Timing)

    def __post_init__(self) -> None:
        self.system = System.initial()
        self.trace: list[StepRecord] = []
        self.history: list[System] = []  # the system before each step of the trace
        self.driver = Driver(
            self.impl, join_timeout=self.timing.join_timeout, bound=self.timing.bound, spec=self.engine.spec,
            optimize=self.timing.optimize,
        )

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def step(self, action: Action) -> StepRecord:
        """Perform ``action`` on reality and model; raise ``Disagreement`` where they part."""
        before = self.system
        predicted = self.engine.predict(before, action)
        try:
            observed = self.driver.perform(action, before)
        except AgentGoneError as gone:
            observed = f"<P{gone.model_pid} ended before it answered>"
        candidates = [t for t in predicted if t.observed == observed]
        if not candidates:
            raise self._parted(action, before, predicted, observed, [])
        chosen, mismatches = self._settle(candidates)
        if chosen is None:
            raise self._parted(action, before, predicted, observed, mismatches)
        mismatches = self._stays_alive(action, before, chosen.system)
        if mismatches:
            raise self._parted(action, before, [chosen], observed, mismatches)
        record = StepRecord(action, observed, chosen.rules, before, chosen.system)
        self.trace.append(record)
        self.history.append(before)
        self.system = chosen.system
        return record

    def _stays_alive(self, action: Action, before: System, after: System) -> list[str]:
        """Processes the step could have ended but the model keeps alive must not end within the grace period.

        At risk: a process whose life the step changed (it began exiting, say), and the target
        of a step that can end a process (a signal, a release, a thread finishing, an end).
        A call that only asks (is_alive, pid, ...) puts nothing at risk.
        """
        drive = self.engine.event(action.event).drive
        ends = drive is not None and drive.ends

        def at_risk(pid: int) -> bool:
            proc = after.procs[pid]
            if proc.life == "new" or proc.terminated:
                return False
            changed = pid >= len(before.procs) or before.procs[pid].life != proc.life
            return changed or (pid == action.pid and ends)

        risky = [pid for pid in range(len(after.procs)) if at_risk(pid)]
        ended = self.driver.ended_within(risky, self.timing.grace) if risky else []
        return [
            f"P{pid}: the model says it stays alive ({after.procs[pid].life}), but it ended within "
            f"{self.timing.grace}s" for pid in ended
        ]

    def _parted(
        self, action: Action, before: System, predicted: list[Transition], observed: str, mismatches: list[str]
    ) -> Disagreement:
        return Disagreement(
            self.impl.spec, self.trace, action, before, predicted, observed, mismatches, [*self.history, before]
        )

    def recheck(self) -> None:
        """Compare the OS view with the model again, with no action: a late death shows here."""
        mismatches = self.driver.observe().mismatches(self.system)
        if mismatches and self.trace:
            last = self.trace.pop()
            before = self.history.pop()
            predicted = [Transition(last.rules, last.observed, self.system)]
            raise self._parted(last.action, before, predicted, last.observed, mismatches)

    def _settle(self, candidates: list[Transition]) -> tuple[Transition | None, list[str]]:
        """Wait for each candidate's eventual outcome (fewest endings first); the first that matches."""
        ordered = sorted(candidates, key=lambda t: sum(s != "alive" for s in expected_os(t.system).values()))
        mismatches: list[str] = []
        for t in ordered:
            self.driver.await_settled(t.system)
            mismatches = self.driver.observe().mismatches(t.system)
            if not mismatches:
                return t, []
        return None, mismatches


def run_trace(engine: Engine, impl: Implementation, actions: list[Action], timing: Timing | None = None) -> list[StepRecord]:
    """Run ``actions`` from a fresh system; the steps taken, or ``Disagreement`` at the first parting."""
    with Runner(engine, impl, timing or Timing()) as runner:
        for action in actions:
            runner.step(action)
        return runner.trace
