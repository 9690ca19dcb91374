"""One run of the model along a decided trace: the rules each of its steps took.

The decision keeps a set of model states per step, so the rules its steps record are those of
every state of the set (a rule the model may take at either of two steps shows at both). A
picture of what the run took needs one run: this walks the decision's path again from the
initial state, one state at a time, depth first, each (step, state) tried once, and returns
the rules of the first run that takes every step of the path.
"""

from __future__ import annotations

from dataclasses import dataclass

from proclife.model.core.engine import Engine
from proclife.model.core.system import System
from proclife.trace.decide import _Link, outcomes
from proclife.trace.progress import Phases, Progress
from proclife.trace.steps import Step


@dataclass(frozen=True)
class _Taken:
    """The rules of the steps taken so far, last first (shared between the branches)."""

    rules: tuple[str, ...]
    prev: _Taken | None


class NoWitness(RuntimeError):
    """The path the decision matched has no single run: the decision and this replay disagree."""


def witness(engine: Engine, path: list[_Link]) -> list[tuple[str, ...]]:
    """The rules of each step of ``path`` in one run of the model that takes them all."""
    steps: list[Step] = [link.step for link in path]
    phases, progress = Phases(engine), Progress(engine)
    seen: set[tuple[int, System]] = set()
    stack: list[tuple[int, System, _Taken | None]] = [(0, System.initial(), None)]
    while stack:
        depth, system, taken = stack.pop()
        if depth == len(steps):
            out: list[tuple[str, ...]] = []
            while taken is not None:
                out.append(taken.rules)
                taken = taken.prev
            return out[::-1]
        if (depth, system) in seen:
            continue
        seen.add((depth, system))
        after = outcomes(engine, progress, phases, steps[depth], system)
        for new, rules in sorted(after.items(), key=lambda item: item[1], reverse=True):
            stack.append((depth + 1, new, _Taken(rules, taken)))
    msg = f"no single run of the model takes the {len(steps)} matched steps; decide the trace again (--check)"
    raise NoWitness(msg)
