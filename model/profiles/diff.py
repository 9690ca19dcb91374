"""How two models differ: in their rules, and in what a program could observe.

``rule_diff`` compares the rule tables (added, removed, changed). ``distinguishing_path``
searches both models in lock-step for the shortest sequence of actions after which they
predict something different a caller or the kernel would see: that path, run on a real
implementation, tells which of the two it follows.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from proclife.model.core.base import REAPED
from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Rule, Spec
from proclife.model.core.system import System


@dataclass(frozen=True)
class RuleDiff:
    added: tuple[Rule, ...]
    removed: tuple[Rule, ...]
    changed: tuple[tuple[Rule, Rule], ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def rule_diff(a: Spec, b: Spec) -> RuleDiff:
    """The rules ``b`` adds to ``a``, removes from it, and changes (same id, other content)."""
    ra = {r.id: r for r in a.rules}
    rb = {r.id: r for r in b.rules}
    return RuleDiff(
        added=tuple(r for i, r in rb.items() if i not in ra),
        removed=tuple(r for i, r in ra.items() if i not in rb),
        changed=tuple((ra[i], rb[i]) for i in ra if i in rb and ra[i] != rb[i]),
    )


def observable(system: System) -> tuple[tuple[str, bool], ...]:
    """What the kernel shows of each process: new / alive / zombie / gone, and orphaned or not."""
    out = []
    for proc in system.procs:
        if proc.life == "new":
            kind = "new"
        elif proc.life == REAPED:
            kind = "gone"
        elif proc.terminated:
            kind = "zombie"
        else:
            kind = "alive"
        out.append((kind, proc.orphan and not proc.terminated))
    return tuple(out)


def _views(ts: list[Transition]) -> set[tuple[str, tuple[tuple[str, bool], ...]]]:
    return {(t.observed, observable(t.system)) for t in ts}


@dataclass(frozen=True)
class Distinction:
    """A path both models accept up to its last action, where their predictions part."""

    path: tuple[Action, ...]
    a_says: tuple[str, ...]
    b_says: tuple[str, ...]


def _compare(a: Engine, b: Engine, sa: System, sb: System, action: Action) -> tuple[list[Transition], list[Transition], bool]:
    pa = a.predict(sa, action)
    pb = b.predict(sb, action)
    return pa, pb, _views(pa) != _views(pb)


def _describe(ts: list[Transition]) -> tuple[str, ...]:
    return tuple(sorted({f"{t.observed}; kernel: {observable(t.system)}" for t in ts})) or ("(not allowed)",)


def distinguishing_path(
    a: Engine, b: Engine, bounds: Bounds, drivable: Callable[[Action], bool],
    max_states: int = 30_000, walks: int = 3_000, seed: int = 0,
) -> Distinction | None:
    """The shortest action sequence (breadth-first, then random walks) on which ``a`` and ``b`` part."""
    start = (System.initial(), System.initial())
    parents: dict[tuple[System, System], tuple[Action, ...]] = {start: ()}
    queue = deque([start])

    def step(pair: tuple[System, System], action: Action) -> tuple[Distinction | None, list[tuple[System, System]]]:
        sa, sb = pair
        pa, pb, differ = _compare(a, b, sa, sb, action)
        if differ:
            return Distinction((*parents.get(pair, ()), action), _describe(pa), _describe(pb)), []
        return None, [(ta.system, tb.system) for ta in pa for tb in pb if ta.observed == tb.observed]

    while queue and len(parents) < max_states:
        pair = queue.popleft()
        for action, _ in b.enabled(pair[1], bounds):
            if not drivable(action):
                continue
            found, nexts = step(pair, action)
            if found:
                return found
            for nxt in nexts:
                if nxt not in parents:
                    parents[nxt] = (*parents[pair], action)
                    queue.append(nxt)
    rng = random.Random(seed)
    for _ in range(walks):
        walk: tuple[System, System] = start
        path: tuple[Action, ...] = ()
        for _step in range(14):
            options = [act for act, _ in b.enabled(walk[1], bounds) if drivable(act)]
            if not options:
                break
            action = rng.choice(options)
            pa, pb, differ = _compare(a, b, walk[0], walk[1], action)
            path = (*path, action)
            if differ:
                return Distinction(path, _describe(pa), _describe(pb))
            nexts = [(ta.system, tb.system) for ta in pa for tb in pb if ta.observed == tb.observed]
            if not nexts:
                break
            walk = nexts[0]
    return None
