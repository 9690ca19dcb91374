"""A whole conformance run for one implementation: the directed plan, then random exploration."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from proclife.conformance.machine import machine_for
from proclife.conformance.plans import plan_for
from proclife.conformance.report import Disagreement, Report, StepRecord
from proclife.conformance.runner import Timing, run_trace
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.extend import Model
from proclife.model.core.system import Config
from proclife.runtime.errors import HarnessError
from proclife.runtime.impls import Implementation


@dataclass(frozen=True)
class Budget:
    """How much checking: random examples, steps per example, and a wall-clock limit."""

    examples: int = 20
    steps: int = 20
    max_seconds: float = 60.0
    seed: int = 0
    directed: bool = True
    first_only: bool = False  # stop at the first disagreement (tests); otherwise collect each distinct one


Progress = Callable[[str], None]


def engine_for(model: Model, impl: Implementation, optimize: bool = False) -> Engine:
    config = Config(start_method=impl.start_method, python=sys.version_info[:2], optimize=optimize)  # type: ignore[arg-type]
    return Engine(model.spec, model.semantics, config)


def check(
    model: Model,
    impl: Implementation,
    bounds: Bounds,
    budget: Budget,
    timing: Timing | None = None,
    progress: Progress | None = None,
) -> Report:
    """Check ``impl`` against ``model``; every disagreement found is in the report."""
    timing = timing or Timing()
    say = progress or (lambda _msg: None)
    engine = engine_for(model, impl, timing.optimize)
    report = Report(impl.spec, impl.start_method, ".".join(map(str, sys.version_info[:3])))
    started = time.monotonic()
    deadline = started + budget.max_seconds

    def count(record: StepRecord) -> None:
        report.steps += 1
        for rule in record.rules:
            report.coverage[rule] = report.coverage.get(rule, 0) + 1

    plan = plan_for(engine, bounds)
    if budget.directed:
        seen: set[tuple[str, ...]] = set()
        for index, run in enumerate(plan.runs, 1):
            if time.monotonic() > deadline:
                say(f"{impl.spec}: directed phase stopped by the time limit after {index - 1} runs")
                break
            say(f"{impl.spec}: directed run {index}/{len(plan.runs)}")
            report.runs += 1
            try:
                for record in run_trace(engine, impl, run, timing):
                    count(record)
            except Disagreement as found:
                for record in found.trace:
                    count(record)
                key = tuple(found.broken_rules())
                if key not in seen:
                    seen.add(key)
                    report.disagreements.append(found)
                if budget.first_only:
                    break
    if not report.disagreements:
        _explore(engine, impl, bounds, budget, timing, deadline, report, count, say)
    report.seconds = time.monotonic() - started
    for rule in engine.spec.rules:
        if rule.id not in report.coverage:
            report.unreached[rule.id] = plan.unreachable.get(
                rule.id, "reachable in the model; not taken within this run's budget"
            )
    return report


def _explore(
    engine: Engine,
    impl: Implementation,
    bounds: Bounds,
    budget: Budget,
    timing: Timing,
    deadline: float,
    report: Report,
    count: Callable[[StepRecord], None],
    say: Progress,
) -> None:
    """Random exploration in small batches until the examples or the time run out."""
    done = 0
    batch = 0
    while done < budget.examples and time.monotonic() < deadline:
        size = min(5, budget.examples - done)
        machine = machine_for(engine, impl, bounds, timing, on_step=count)
        hypothesis_seed(budget.seed * 1000 + batch)(machine)
        batch += 1
        say(f"{impl.spec}: random exploration, examples {done + 1}-{done + size} of {budget.examples}")
        report.runs += size
        try:
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=size,
                    stateful_step_count=budget.steps,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                    print_blob=False,
                    report_multiple_bugs=False,
                ),
            )
        except Disagreement as found:  # hypothesis re-raises the shrunk failure last
            report.disagreements.append(found)
            return
        except Flaky as flaky:
            raise HarnessError(
                f"{impl.spec}: the same steps gave different outcomes on replay ({flaky}); "
                f"an outcome the model does not decide is missing from it"
            ) from flaky
        done += size
