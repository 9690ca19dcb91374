"""Every deviation of a profile must be needed: without it, the implementation disagrees.

For each deviation, the model *minus* that deviation is held against the implementation
along paths that reach the rules the deviation touches; a profile deviation the
implementation does not need (one that merely loosens the model) shows up as no
disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

from proclife.conformance.check import engine_for
from proclife.conformance.report import Disagreement
from proclife.conformance.runner import Timing, drivable, run_trace
from proclife.model.core.base import BASE
from proclife.model.core.engine import Bounds
from proclife.model.core.spec import Spec
from proclife.model.profiles.diff import distinguishing_path
from proclife.model.profiles.profile import Deviation, Profile, model_of
from proclife.runtime.impls import Implementation


@dataclass(frozen=True)
class Verdict:
    deviation: Deviation
    found: Disagreement | None
    paths_run: int

    @property
    def needed(self) -> bool:
        return self.found is not None


def touched(deviation: Deviation, spec: Spec = BASE) -> set[str]:
    """The rules a deviation replaces or removes, and those whose guards it redefines."""
    out = {r.id for r in deviation.change.rules} | set(deviation.change.remove)
    redefined = set(deviation.change.guards)
    out |= {r.id for r in spec.rules if redefined.intersection(g.lstrip("!") for g in r.when)}
    return out


def verdict(profile: Profile, deviation: Deviation, impl: Implementation, timing: Timing, bounds: Bounds) -> Verdict:
    """Find where the profile with and without the deviation part, and run that path for real.

    The path is checked against the profile *minus* the deviation: a disagreement shows the
    implementation needs the deviation. No distinguishing path at all means the deviation
    changes nothing observable within ``bounds``: also not needed.
    """
    with_it = engine_for(model_of(profile), impl, timing.optimize)
    without = engine_for(model_of(profile, without=deviation.id), impl, timing.optimize)
    found = distinguishing_path(with_it, without, bounds, drivable(without))
    if found is None:
        return Verdict(deviation, None, 0)
    try:
        run_trace(without, impl, list(found.path), timing)
    except Disagreement as parted:
        return Verdict(deviation, parted, 1)
    return Verdict(deviation, None, 1)
