"""Every deviation of a profile must be needed: without it, the implementation disagrees.

For each deviation, the model *minus* that deviation is held against the implementation
along paths that reach the rules the deviation touches; a profile deviation the
implementation does not need (one that merely loosens the model) shows up as no
disagreement.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from model.engine import Bounds, Engine
from model.profile import Deviation, Profile, model_of
from model.semantics import Action
from model.system import System
from proclife.conformance.check import engine_for
from proclife.conformance.report import Disagreement
from proclife.conformance.runner import Timing, drivable, run_trace
from runtime.impls import Implementation


@dataclass(frozen=True)
class Verdict:
    deviation: Deviation
    found: Disagreement | None
    paths_run: int

    @property
    def needed(self) -> bool:
        return self.found is not None


def touched(deviation: Deviation) -> set[str]:
    """The base rules a deviation replaces or removes."""
    return {r.id for r in deviation.change.rules} | set(deviation.change.remove)


def paths_to(engine: Engine, bounds: Bounds, rules: set[str], per_rule: int = 6, max_states: int = 6000) -> list[list[Action]]:
    """Up to ``per_rule`` distinct shortest settled paths whose last step takes each rule."""
    check = drivable(engine)
    start = System.initial()
    parents: dict[System, tuple[Action, ...]] = {start: ()}
    found: dict[str, list[tuple[Action, ...]]] = {r: [] for r in rules}
    queue = deque([start])
    while queue and len(parents) < max_states:
        system = queue.popleft()
        here = parents[system]
        for action, _ in engine.enabled(system, bounds):
            if not check(action):
                continue
            for t in engine.predict(system, action):
                path = (*here, action)
                for rule in rules.intersection(t.rules):
                    if len(found[rule]) < per_rule and path not in found[rule]:
                        found[rule].append(path)
                if t.system not in parents:
                    parents[t.system] = path
                    queue.append(t.system)
        if all(len(v) >= per_rule for v in found.values()):
            break
    ordered = sorted({p for ps in found.values() for p in ps}, key=len)
    return [list(p) for p in ordered]


def verdict(profile: Profile, deviation: Deviation, impl: Implementation, timing: Timing, bounds: Bounds) -> Verdict:
    """Run the paths to the deviation's rules against the profile minus the deviation."""
    engine = engine_for(model_of(profile, without=deviation.id), impl, timing.optimize)
    paths = paths_to(engine, bounds, touched(deviation) & {r.id for r in engine.spec.rules})
    for count, path in enumerate(paths, 1):
        try:
            run_trace(engine, impl, path, timing)
        except Disagreement as found:
            return Verdict(deviation, found, count)
    return Verdict(deviation, None, len(paths))
