"""Coverage of (rule, consequence) pairs: what a run's steps showed, what the model could show, and why
a pair was not reached (the consequences themselves are the model's: ``model/explore/consequences.py``)."""

from __future__ import annotations

from proclife.conformance.plans import unperformable_step
from proclife.conformance.report import Report, StepRecord
from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.semantics import Action
from proclife.model.diagrams.paint import Coverage
from proclife.model.explore.consequences import consequences, pair_key, spec_candidates, split_key

UNTAKEN = "reachable in the model; not taken within this run's budget"
NO_SEARCH = "not taken (--no-directed skipped the search that says what is reachable)"


def record_pairs(engine: Engine, record: StepRecord) -> list[str]:
    """The pair keys one step reality agreed with showed (none for a record without its systems)."""
    if record.before is None or record.after is None:
        return []
    chosen = Transition(record.rules, record.observed, record.after)
    return [pair_key(p) for p in consequences(engine, record.before, record.action, chosen)]


def reached_pairs(engine: Engine, bounds: Bounds, runs: list[list[Action]]) -> set[str]:
    """The pair keys some outcome of the model reaches along ``runs`` (the directed runs of a check)."""
    taken: set[str] = set()
    for run in runs:
        unperformable_step(engine, bounds, run, taken)
    return {goal for goal in taken if " => " in goal}


def unreached_pairs(
    engine: Engine,
    bounds: Bounds,
    taken: dict[str, int],
    reachable: set[str],
    unreachable_rules: dict[str, str],
    searched: bool,
) -> dict[str, str]:
    """Every pair the spec names or the search found that no step took, with the reason."""
    named = {pair_key(p) for p in spec_candidates(engine)}
    where = f"procs={bounds.procs}, threads={bounds.threads}, depth={bounds.depth}"
    out: dict[str, str] = {}
    for key in sorted((named | reachable) - set(taken)):
        rule = split_key(key)[0]
        if rule in unreachable_rules:
            out[key] = f"its rule is not reachable: {unreachable_rules[rule]}"
        elif key in reachable:
            out[key] = UNTAKEN
        elif not searched:
            out[key] = NO_SEARCH
        else:
            out[key] = f"unreachable in the model within the bounds ({where}), as far as the plan's search found"
    return out


def painting(report: Report) -> Coverage:
    """What a diagram paints of a run: steps per rule, each rule's consequences, the first
    disagreement's trace (its steps' rules, then the rules its last step expected)."""
    shown: dict[str, list[str]] = {}
    for key in sorted(report.pairs):
        rule, consequence = split_key(key)
        shown.setdefault(rule, []).append(f"{consequence} ×{report.pairs[key]}")
    trace: tuple[tuple[str, ...], ...] = ()
    if report.disagreements:
        found = report.disagreements[0]
        trace = (*(record.rules for record in found.trace), tuple(found.broken_rules()))
    return Coverage(dict(report.coverage), {r: tuple(c) for r, c in shown.items()}, trace)
