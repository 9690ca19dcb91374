"""One real system beside the model: perform an action on both, compare, keep going.

Immediate observations (a call's result or exception) are compared at once; eventual
ones (processes that may now end) are awaited on events by the driver, then the OS view is
compared, and each process's own account of its life (``evidence``): where the model holds a
process in its exit sequence, its observer must show it there. No timer stands in for an
observation: a "stays alive" prediction is confirmed by the fact that holds the process (an
exit join in progress, an agent that acknowledged its command), and a fact that contradicts it
later is a disagreement at the step that reads it; every run ends by draining the streams once
more (``recheck``). Where the model allows several outcomes, the step agrees if reality matches
any one of them, and the run continues from that one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from proclife.conformance.evidence import (
    Accounts,
    contradictions,
    decided,
    differences,
    joined_out_of_order,
    unmet,
)
from proclife.conformance.report import Disagreement, StepRecord
from proclife.model.core.engine import Engine, Transition
from proclife.model.core.semantics import Action
from proclife.model.core.system import System
from proclife.runtime.driver import Driver
from proclife.runtime.errors import AgentGoneError
from proclife.runtime.events import Lifecycle
from proclife.runtime.impls import Implementation
from proclife.runtime.observe import expected_os
from proclife.runtime.osproc import ZOMBIE
from proclife.runtime.prestart import Prestarted


@dataclass(frozen=True)
class Timing:
    """How long a join(timeout) waits, and the bound on every wait for an eventual outcome."""

    join_timeout: float = 0.05
    bound: float = 10.0
    optimize: bool = False  # run the agents under `python -O`


def drivable(engine: Engine) -> Callable[[Action], bool]:
    """The actions the runtime can perform: events with a ``drive``."""

    def check(action: Action) -> bool:
        return engine.event(action.event).drive is not None

    return check


def new_driver(engine: Engine, impl: Implementation, timing: Timing, ahead: bool = False) -> Driver:
    """A driver for one run of ``engine``'s spec; with ``ahead``, its main program still starting."""
    return Driver(impl, join_timeout=timing.join_timeout, bound=timing.bound, spec=engine.spec,
                  optimize=timing.optimize, ahead=ahead)


def supply_for(engine: Engine, impl: Implementation, timing: Timing) -> Prestarted:
    """Fresh drivers for many runs, each main program started while the run before it goes on."""
    return Prestarted(lambda: new_driver(engine, impl, timing, ahead=True))


@dataclass
class Runner:
    """A fresh real system (a Driver) and the model's view of it, advanced together."""

    engine: Engine
    impl: Implementation
    timing: Timing = field(default_factory=Timing)
    supply: Prestarted | None = None  # where fresh drivers come from (None: start one here)

    def __post_init__(self) -> None:
        self.system = System.initial()
        self.trace: list[StepRecord] = []
        self.history: list[System] = []  # the system before each step of the trace
        self._driver: Driver | None = None

    @property
    def driver(self) -> Driver:
        """The run's real processes, started at the first need (an example hypothesis drops before
        its first step costs no interpreter)."""
        if self._driver is None:
            self._driver = (new_driver(self.engine, self.impl, self.timing) if self.supply is None
                            else self.supply.take())
        return self._driver

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()

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
        record = StepRecord(action, observed, chosen.rules, before, chosen.system)
        self.trace.append(record)
        self.history.append(before)
        self.system = chosen.system
        return record

    def _parted(
        self, action: Action, before: System, predicted: list[Transition], observed: str, mismatches: list[str]
    ) -> Disagreement:
        return Disagreement(
            self.impl.spec, self.trace, action, before, predicted, observed, mismatches, [*self.history, before]
        )

    def recheck(self) -> None:
        """Compare the OS view and every process's account with the model again, with no action:
        a late death or a late fact shows here (the end of every run drains the streams this way)."""
        if self._driver is None:
            return  # nothing was started
        if self.driver.hub is not None:
            self.driver.hub.pump_now()
        mismatches = self.driver.observe().mismatches(self.system) + contradictions(self.system, self.accounts)
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
            self.driver.await_settled(t.system, stop=lambda t=t: self._ruled_out(t.system))  # type: ignore[misc]
            self._await_accounts(t.system)
            mismatches = self.driver.observe().mismatches(t.system) + self._accounts_differ(t.system)
            if not mismatches:
                return t, []
        return None, mismatches

    def _ruled_out(self, expected: System) -> bool:
        """Whether the facts reported so far (read now) rule ``expected`` out: a contradiction, or an
        order of exit joins that leaves a child it has reaped a zombie (no wait for that reaping)."""
        return bool(contradictions(expected, self.accounts)
                    or joined_out_of_order(expected, self.accounts, self._zombie_of))

    def _zombie_of(self, pid: int, parent: int) -> bool:
        """Whether model process ``pid`` is, by the kernel now, a zombie of the process ``parent``."""
        known = self.driver.known.get(pid)
        return known is not None and self.driver.procs.state(pid) == ZOMBIE and known.ppid() == parent

    def _account(self, pid: int) -> Lifecycle | None:
        """What model process ``pid`` has reported of itself (None: it has no OS process)."""
        known = self.driver.known.get(pid)
        events = self.driver.events
        return None if known is None or events is None else events.of(known.pid)

    @property
    def accounts(self) -> Accounts:
        """Each process's own account of its life, as the evidence checks read it."""
        known = self.driver.known

        def model_pid(os_pid: int) -> int | None:
            return next((pid for pid, k in known.items() if k.pid == os_pid), None)

        def os_pid(pid: int) -> int | None:
            return None if pid not in known else known[pid].pid

        def ended(pid: int) -> bool:
            hub = self.driver.hub
            return hub is not None and pid in hub.ended

        return Accounts(self._account, os_pid, model_pid, ended)

    def _await_accounts(self, expected: System) -> None:
        """Wait, bounded, until each process shows the exit phase the model holds it in, or
        something decides otherwise (a contradicting fact, its end)."""
        hub = self.driver.hub
        accounts = self.accounts
        if hub is None or not unmet(expected, accounts):
            return
        hub.wait(lambda: decided(expected, accounts, lambda pid: pid in hub.ended),
                 time.monotonic() + self.timing.bound)

    def _accounts_differ(self, expected: System) -> list[str]:
        return differences(expected, self.accounts, self.timing.bound)


def run_trace(engine: Engine, impl: Implementation, actions: list[Action], timing: Timing | None = None,
              supply: Prestarted | None = None) -> list[StepRecord]:
    """Run ``actions`` from a fresh system; the steps taken, or ``Disagreement`` at the first parting."""
    with Runner(engine, impl, timing or Timing(), supply) as runner:
        for action in actions:
            runner.step(action)
        runner.recheck()
        return runner.trace
