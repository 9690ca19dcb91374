"""What a conformance run found: the steps it took and, if any, where model and reality parted."""

from __future__ import annotations

from dataclasses import dataclass, field

from proclife.exits import DISAGREE, HARNESS, OK
from proclife.model.core.engine import Transition
from proclife.model.core.semantics import Action
from proclife.model.core.system import System


@dataclass(frozen=True)
class StepRecord:
    """One step as it happened: the action, what the caller saw, the rules the model took.

    ``before`` and ``after`` are the model's systems around the step (the one reality agreed
    with): what the coverage of observed consequences is derived from.
    """

    action: Action
    observed: str
    rules: tuple[str, ...]
    before: System | None = None
    after: System | None = None

    def line(self, index: int) -> str:
        return f"{index:3}. {self.action.describe():32} -> {self.observed}"


class Disagreement(AssertionError):
    """The first step where the real processes did something the model does not allow."""

    exit_status = 1

    def __init__(
        self,
        impl: str,
        trace: list[StepRecord],
        action: Action,
        before: System,
        predicted: list[Transition],
        observed: str,
        mismatches: list[str],
        systems: list[System] | None = None,
    ) -> None:
        self.impl = impl
        self.systems = systems or []  # the model's system before each step of the trace, and before this one
        self.trace = list(trace)
        self.action = action
        self.before = before
        self.predicted = predicted
        self.observed = observed
        self.mismatches = mismatches
        super().__init__(self.headline())

    @property
    def actions(self) -> list[Action]:
        return [s.action for s in self.trace] + [self.action]

    def broken_rules(self) -> list[str]:
        """The rules the model expected this step to take: the ones reality broke."""
        seen: list[str] = []
        for t in self.predicted:
            for rule in t.rules:
                if rule not in seen:
                    seen.append(rule)
        return seen

    def headline(self) -> str:
        step = len(self.trace) + 1
        what = "the OS view" if self.mismatches and self.observed in self._allowed() else "the result"
        return f"{self.impl}: step {step}, {self.action.describe()}: {what} differs from the model"

    def _allowed(self) -> list[str]:
        return sorted({t.observed for t in self.predicted})

    def explain(self) -> str:
        """The shrunk trace, the step, what the model predicted, what was observed."""
        lines = [self.headline(), "", "trace (each step agreed with the model):"]
        lines += [s.line(i + 1) for i, s in enumerate(self.trace)] or ["  (none: the first step)"]
        lines += [
            "",
            f"step {len(self.trace) + 1}: {self.action.describe()}",
            f"  the model allows: {' | '.join(self._allowed())}",
            f"  observed:         {self.observed}",
        ]
        lines += [f"  {m}" for m in self.mismatches]
        lines += [f"  rules expected: {', '.join(self.broken_rules())}", "", "the system before that step:"]
        lines += ["  " + line for line in self.before.describe().splitlines()]
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        return {
            "impl": self.impl,
            "step": len(self.trace) + 1,
            "trace": [{**s.action.as_json(), "observed": s.observed} for s in self.trace],
            "action": self.action.as_json(),
            "allowed": self._allowed(),
            "observed": self.observed,
            "mismatches": self.mismatches,
            "rules": self.broken_rules(),
        }


@dataclass
class Report:
    """One implementation's conformance run, and whether it did enough to earn a verdict.

    The verdicts (README, ``proclife conform --help``): any disagreement, exit 1; otherwise
    exit 0 only when the run is ``complete`` (the directed plan finished, unless skipped, and
    the random phase ran at least its minimum); otherwise "incomplete", exit 3.
    """

    impl: str
    start_method: str
    python: str
    profile: str = "cpython"
    steps: int = 0
    runs: int = 0
    seconds: float = 0.0
    directed: bool = True  # the directed phase was asked for
    directed_planned: int = 0
    directed_runs: int = 0
    examples_wanted: int = 0
    examples_min: int = 0
    examples: int = 0  # random examples run (in whole batches)
    stopped_by_time: bool = False
    random_steps: int = 0  # steps of the random phase, and its wall time (start-ups and teardowns included)
    random_seconds: float = 0.0
    directed_seconds: float = 0.0  # the directed phase's wall time, plan search included
    random_traces: list[list[Action]] = field(default_factory=list)  # each random run's actions, in order
    coverage: dict[str, int] = field(default_factory=dict)
    unreached: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)  # "rule => consequence": steps that showed it
    pairs_reachable: int = 0  # pairs the model's search found within the bounds
    pairs_unreached: dict[str, str] = field(default_factory=dict)  # named or reachable, not taken: why
    disagreements: list[Disagreement] = field(default_factory=list)
    reproducers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No disagreement was found (which alone is no verdict: see ``complete``)."""
        return not self.disagreements

    @property
    def complete(self) -> bool:
        """The run did all a pass needs: the whole directed plan and the random phase's minimum."""
        plan_done = not self.directed or self.directed_runs == self.directed_planned
        return plan_done and self.examples >= self.examples_min and self.steps > 0

    @property
    def verdict(self) -> str:
        return "disagrees" if not self.ok else "agrees" if self.complete else "incomplete"

    @property
    def exit_status(self) -> int:
        return {"disagrees": DISAGREE, "agrees": OK, "incomplete": HARNESS}[self.verdict]

    def ran(self) -> str:
        """What the run did, phase by phase: the reason for an "incomplete"."""
        directed = (f"directed plan {self.directed_runs}/{self.directed_planned} runs" if self.directed
                    else "directed plan skipped (--no-directed)")
        random = (f"random phase {self.examples} examples ({self.examples_wanted} asked, at least "
                  f"{self.examples_min} needed), {self.random_steps} steps in {self.random_seconds:.1f}s")
        limit = "; stopped by the time limit (--max-seconds)" if self.stopped_by_time else ""
        return f"{directed}; {random}{limit}"

    def as_json(self) -> dict[str, object]:
        return {
            "impl": self.impl,
            "start_method": self.start_method,
            "python": self.python,
            "profile": self.profile,
            "ok": self.verdict == "agrees",
            "complete": self.complete,
            "verdict": self.verdict,
            "ran": self.ran(),
            "directed_planned": self.directed_planned,
            "directed_runs": self.directed_runs,
            "examples": self.examples,
            "directed_seconds": round(self.directed_seconds, 3),
            "random_seconds": round(self.random_seconds, 3),
            "random_steps": self.random_steps,
            "examples_min": self.examples_min,
            "steps": self.steps,
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
            "steps_per_second": round(self.steps / self.seconds, 1) if self.seconds else None,
            "coverage": dict(sorted(self.coverage.items())),
            "unreached": dict(sorted(self.unreached.items())),
            "pairs": dict(sorted(self.pairs.items())),
            "pairs_reachable": self.pairs_reachable,
            "pairs_unreached": self.pairs_unreached,
            "disagreements": [d.as_json() for d in self.disagreements],
            "reproducers": self.reproducers,
        }
