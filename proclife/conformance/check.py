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

from proclife.conformance.coverage import reached_pairs, record_pairs, unreached_pairs
from proclife.conformance.machine import machine_for
from proclife.conformance.plans import plan_for, rule_cover
from proclife.conformance.report import Disagreement, Report, StepRecord
from proclife.conformance.runner import Timing, run_trace, supply_for
from proclife.conformance.variants import disposition_variants, exit_variants
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.extend import Model
from proclife.model.core.system import START_METHODS, Config
from proclife.runtime.errors import HarnessError, ImplementationError
from proclife.runtime.impls import Implementation
from proclife.runtime.prestart import Prestarted


@dataclass(frozen=True)
class Budget:
    """How much checking: random examples, steps per example, and a wall-clock limit."""

    examples: int = 20
    steps: int = 20
    max_seconds: float = 60.0
    seed: int = 0
    directed: bool = True
    # Stop at the first disagreement (a verdict needs one); ``False`` collects each distinct one the
    # directed plan meets, for a maintainer fixing several faults at once (``--keep-going``)
    first_only: bool = True
    min_examples: int = 5  # random examples a run needs to be complete (at most ``examples``)
    # What the directed phase aims at: every reachable (rule, consequence) pair ("pairs"), or only
    # every rule ("rules": the fewest of the plan's runs that take them all, for a quick check)
    aim: str = "pairs"
    # The least share of the executed steps the random phase gets: past ``examples`` it goes on, in
    # batches, until it has run that share of all steps (0.5: as many as the directed phase ran),
    # within ``max_seconds``. The directed phase covers each (rule, consequence) once; random
    # interleavings find what no shortest path takes. Counted in steps, the checking done, not in
    # seconds: a random step costs less than a directed one (its runs are longer).
    random_share: float = 0.5

    @property
    def minimum(self) -> int:
        return min(self.examples, self.min_examples)


Progress = Callable[[str], None]


def known_start_method(impl: Implementation) -> None:
    """Refuse, before any run, an implementation whose start method the model has no rules for."""
    if impl.start_method not in START_METHODS:
        raise ImplementationError(
            f"--impl {impl.spec}: its start method {impl.start_method!r} is not one the model knows "
            f"({', '.join(START_METHODS)}); make its get_start_method() return one of them"
        )


def engine_for(model: Model, impl: Implementation, optimize: bool = False) -> Engine:
    known_start_method(impl)
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
    """Check ``impl`` against ``model``; every disagreement found is in the report.

    The plan search counts against ``budget.max_seconds``; the report says whether the run
    did all it needs for a verdict (``Report.complete``).
    """
    timing = timing or Timing()
    say = progress or (lambda _msg: None)
    engine = engine_for(model, impl, timing.optimize)
    started = time.monotonic()
    deadline = started + budget.max_seconds
    report = Report(impl.spec, impl.start_method, ".".join(map(str, sys.version_info[:3])),
                    directed=budget.directed, examples_wanted=budget.examples, examples_min=budget.minimum)

    def count(record: StepRecord) -> None:
        report.steps += 1
        for rule in record.rules:
            report.coverage[rule] = report.coverage.get(rule, 0) + 1
        for key in record_pairs(engine, record):
            report.pairs[key] = report.pairs.get(key, 0) + 1

    unreachable: dict[str, str] = {}
    reachable: set[str] = set()  # the (rule, consequence) pairs the model's search found within the bounds
    untaken = "reachable in the model; not taken within this run's budget"
    if not budget.directed:
        untaken = "not taken by the random phase (--no-directed skipped the search that says what is reachable)"
    supply = supply_for(engine, impl, timing)  # each run's main program starts while the one before runs
    if budget.directed:
        plan = plan_for(engine, bounds)
        unreachable = plan.unreachable
        # every exit status and inherited SIGTERM disposition, not only every rule; these short runs first
        aimed = plan.runs if budget.aim == "pairs" else rule_cover(engine, plan.runs)
        runs = exit_variants(engine, bounds, aimed) + disposition_variants(engine, bounds, aimed) + aimed
        reachable = plan.pairs | reached_pairs(engine, bounds, runs)
        report.directed_planned = len(runs)
        seen: set[tuple[str, ...]] = set()
        for index, run in enumerate(runs, 1):
            if time.monotonic() > deadline:
                say(f"{impl.spec}: directed phase stopped by the time limit after {index - 1} runs")
                report.stopped_by_time = True
                break
            say(f"{impl.spec}: directed run {index}/{len(runs)}")
            report.runs += 1
            report.directed_runs += 1
            try:
                for record in run_trace(engine, impl, run, timing, supply):
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
    report.directed_seconds = time.monotonic() - started
    if not report.disagreements:
        _explore(engine, impl, bounds, budget, timing, deadline, report, count, say, supply)
    supply.close()
    report.seconds = time.monotonic() - started
    for rule in engine.spec.rules:
        if rule.id not in report.coverage:
            report.unreached[rule.id] = unreachable.get(rule.id, untaken)
    reachable |= set(report.pairs)  # a pair a step showed, the model reached: a step agrees with it
    report.pairs_reachable = len(reachable)
    report.pairs_unreached = unreached_pairs(engine, bounds, report.pairs, reachable, unreachable, budget.directed)
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
    supply: Prestarted,
) -> None:
    """Random exploration in small batches: ``budget.examples`` of them, then more until the phase
    has run ``budget.random_share`` of all steps, or the time runs out."""
    done = 0
    batch = 0
    began, steps_before = time.monotonic(), report.steps
    share = min(max(budget.random_share, 0.0), 0.95)
    at_least = steps_before * share / (1.0 - share)  # random steps the share asks for
    # One class for every batch (each new class costs hypothesis a read of its rules' source).
    machine = machine_for(engine, impl, bounds, timing, on_step=count, supply=supply,
                          on_run=lambda run: report.random_traces.append([r.action for r in run.trace]))
    while done < budget.examples or (budget.examples and report.steps - steps_before < at_least):
        if time.monotonic() >= deadline:
            report.stopped_by_time = done < budget.examples
            return
        size = min(5, budget.examples - done) if done < budget.examples else 5
        hypothesis_seed(budget.seed * 1000 + batch)(machine)
        batch += 1
        say(f"{impl.spec}: random exploration, examples {done + 1}-{done + size} "
            f"({budget.examples} asked, then until it has run {share:.0%} of the steps)")
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
        finally:
            report.random_seconds = time.monotonic() - began
            report.random_steps = report.steps - steps_before
        done += size
        report.examples = done  # batches hypothesis finished (its own replays and invalid draws not counted)
