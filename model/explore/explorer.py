"""Breadth-first exploration of the composite model within bounds, with invariants and liveness.

States are whole ``System`` values (optionally reduced by symmetry); edges are program and
environment actions (``Engine.enabled``, narrowed by a ``Scope``) and internal steps
(``Engine.internal_steps``), both explored because their interleavings matter. BFS parent
pointers give the shortest path to any violation.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import Action
from proclife.model.core.system import Config, System
from proclife.model.explore.invariants import (
    LIVENESS,
    STATE_INVARIANTS,
    STEP_INVARIANTS,
    Checks,
    Finding,
    Liveness,
    StateInvariant,
    StepInvariant,
    checks_of,
    closed_rules_ok,
)
from proclife.model.explore.scopes import LIFECYCLE, Scope, actions
from proclife.model.explore.symmetry import canonical

Progress = Callable[["Stats"], None]
NO_PARENT = -1


@dataclass
class Stats:
    states: int = 0
    transitions: int = 0
    self_loops: int = 0
    deadlocks: int = 0
    final: int = 0
    depth: int = 0
    seconds: float = 0.0
    search_seconds: float | None = None  # SPIN: pan's search alone, without generating and compiling
    # how many reachable systems hold a process in each process state (the Python explorer's; SPIN does not say)
    lives: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Step:
    """One step of a path: the action, the rules that fired, the system after it."""

    action: Action
    rules: tuple[str, ...]
    system: System


@dataclass(frozen=True)
class Violation:
    """A broken invariant with the shortest path (from ``System.initial()``) that breaks it."""

    invariant: str
    source: str
    doc: str
    path: tuple[Step, ...]
    detail: str = ""
    shortest: bool = True


@dataclass(frozen=True)
class FindingHit:
    finding: Finding
    count: int
    path: tuple[Step, ...]


@dataclass
class Result:
    bounds: Bounds
    scope: Scope
    symmetry: bool
    stats: Stats
    violations: list[Violation] = field(default_factory=list)
    findings: list[FindingHit] = field(default_factory=list)
    checked: tuple[str, ...] = ()
    engine: str = "python"
    config: Config = field(default_factory=Config)

    @property
    def ok(self) -> bool:
        return not self.violations


class BoundsError(ModelError):
    """Bounds the explorer cannot use."""


class StateLimitError(RuntimeError):
    """The run reached its state limit before it exhausted the bounds: no verdict, not a finding."""

    exit_status = 3


def check_bounds(bounds: Bounds) -> None:
    if bounds.procs < 0 or bounds.threads < 0 or bounds.depth < 1:
        raise BoundsError(
            f"bounds procs={bounds.procs} threads={bounds.threads} depth={bounds.depth}: "
            "procs and threads must be >= 0 and depth >= 1"
        )


@dataclass
class Explorer:
    """One bounded run; ``run()`` fills a ``Result``."""

    model: Model
    bounds: Bounds = field(default_factory=Bounds)
    config: Config = field(default_factory=Config)
    scope: Scope = LIFECYCLE
    symmetry: bool = True
    # None: the model's own (the base checks, its extensions', fairness applied: ``checks_of``)
    state_invariants: tuple[StateInvariant, ...] | None = None
    step_invariants: tuple[StepInvariant, ...] | None = None
    liveness: tuple[Liveness, ...] | None = None
    findings: tuple[Finding, ...] | None = None
    progress: Progress | None = None
    progress_every: float = 1.0
    max_states: int | None = None

    def __post_init__(self) -> None:
        check_bounds(self.bounds)
        self.engine = Engine(self.model.spec, self.model.semantics, self.config)
        own = checks_of(self.model)
        self.checks = Checks(
            own.state if self.state_invariants is None else self.state_invariants,
            own.step if self.step_invariants is None else self.step_invariants,
            own.liveness if self.liveness is None else self.liveness,
            own.findings if self.findings is None else self.findings,
        )
        self._live_events = [live.events(self.model.spec) for live in self.checks.liveness]
        self._norm: Callable[[System], System] = canonical if self.symmetry else _identity

    # --- successors ---------------------------------------------------------------------

    def successors(self, system: System) -> list[tuple[Action, Transition]]:
        """Every (action, outcome) pair from ``system``: program/environment, then internal."""
        fire = self.engine._fire  # uncached: each system is expanded once, its entries would only take memory
        out = [(a, t) for a in actions(self.engine, system, self.bounds, self.scope) for t in fire(system, a)]
        out += self.engine.internal_steps(system, cached=False)
        return out

    # --- the run --------------------------------------------------------------------------

    def run(self) -> Result:
        start = time.perf_counter()
        stats = Stats()
        result = Result(self.bounds, self.scope, self.symmetry, stats, config=self.config)
        result.checked = self.checks.names()
        result.violations += rule_table_violations(self.model)
        init = self._norm(System.initial())
        index: dict[System, int] = {init: 0}
        states: list[System] = [init]
        pred = array("q", [NO_PARENT])
        via: list[tuple[Action, tuple[str, ...]] | None] = [None]
        level = array("l", [0])
        live_dst: list[list[int]] = [[] for _ in self.checks.liveness]
        live_src: list[array[int]] = [array("q") for _ in self.checks.liveness]
        broken: dict[str, Violation] = {}
        step_hits: dict[str, list[object]] = {}
        last = start
        i = 0
        lives = stats.lives
        while i < len(states):
            system = states[i]
            for life in {p.life for p in system.procs}:
                lives[life] = lives.get(life, 0) + 1
            self._check_state(system, i, states, pred, via, broken)
            moved = False
            steps = self.successors(system)
            for action, t in steps:
                stats.transitions += 1
                nxt = self._norm(t.system)
                for inv in self.checks.step:
                    if inv.name not in broken and not inv.holds(system, action, t):
                        self._step_broken(inv, system, action, t, i, states, pred, via, broken, step_hits)
                j = index.get(nxt)
                if j is None:
                    j = len(states)
                    if self.max_states is not None and j >= self.max_states:
                        raise self._limit_reached(j, level[i])
                    index[nxt] = j
                    states.append(nxt)
                    pred.append(i)
                    via.append((action, t.rules))
                    level.append(level[i] + 1)
                if j == i:
                    stats.self_loops += 1
                else:
                    moved = True
                for k, events in enumerate(self._live_events):
                    if action.event in events:
                        live_dst[k].append(j)
                        live_src[k].append(i)
            if not moved:
                if all(live.goal(system) for live in self.checks.liveness) or (not steps and not self.checks.liveness):
                    stats.final += 1
                else:
                    stats.deadlocks += 1
            i += 1
            if self.progress and i % 512 == 0:
                now = time.perf_counter()
                if now - last >= self.progress_every:
                    last = now
                    stats.states, stats.seconds, stats.depth = len(states), now - start, level[i - 1]
                    self.progress(stats)
        stats.states = len(states)
        stats.depth = max(level) if level else 0
        result.violations += list(broken.values())
        for f in self.checks.findings:
            if f.name in step_hits:
                count, path = step_hits[f.name]
                result.findings.append(FindingHit(f, int(count), self._replay(path)))  # type: ignore[arg-type,call-overload]
        for k, live in enumerate(self.checks.liveness):
            self._check_liveness(live, live_dst[k], live_src[k], states, pred, via, result)
        stats.seconds = time.perf_counter() - start
        return result

    def _limit_reached(self, states: int, depth: int) -> StateLimitError:
        b = self.bounds
        return StateLimitError(
            f"stopped at the state limit, {states:,} states (depth {depth}), before exhausting procs={b.procs} "
            f"threads={b.threads} depth={b.depth} in scope {self.scope.name}: no verdict. Raise "
            "--max-states (the explorer needs about 1.5 GB per million states), narrow the bounds or the scope, or "
            "use --engine spin; docs/exploration.md lists measured sizes"
        )

    def _step_broken(
        self, inv: StepInvariant, system: System, action: Action, t: Transition, i: int, states: list[System],
        pred: array[int], via: list[tuple[Action, tuple[str, ...]] | None], broken: dict[str, Violation],
        hits: dict[str, list[object]],
    ) -> None:
        """A broken step is a finding if one matches the system before it, else a violation."""
        finding = next(
            (f for f in self.checks.findings if f.invariant == inv.name and f.matches(system, action.pid, self.config)),
            None,
        )
        if finding is None:
            path = self._path(i, states, pred, via) + ((action, t.rules),)
            broken[inv.name] = Violation(inv.name, inv.source, inv.doc, self._replay(path))
        elif finding.name in hits:
            hits[finding.name][0] = int(hits[finding.name][0]) + 1  # type: ignore[call-overload]
        else:
            hits[finding.name] = [1, self._path(i, states, pred, via) + ((action, t.rules),)]

    def _check_state(
        self, system: System, i: int, states: list[System], pred: array[int],
        via: list[tuple[Action, tuple[str, ...]] | None], broken: dict[str, Violation],
    ) -> None:
        for inv in self.checks.state:
            if inv.name not in broken and not inv.holds(system):
                broken[inv.name] = Violation(inv.name, inv.source, inv.doc, self._replay(self._path(i, states, pred, via)))

    def _check_liveness(
        self, live: Liveness, heads: list[int], tails: array[int], states: list[System],
        pred: array[int], via: list[tuple[Action, tuple[str, ...]] | None], result: Result,
    ) -> None:
        """Every maximal run of program actions ends in the goal or in a declared dead end.

        Checked as two facts that SPIN can check too: program actions cannot cycle (the
        liveness edges form no cycle, self-loops included), and every state they cannot
        leave is a goal or matches a finding. Together they make the goal (or a finding)
        reachable from every state by those actions alone.
        """
        n = len(states)
        moves = bytearray(n)
        for src in tails:
            moves[src] = 1
        hits: dict[str, list[int]] = {}
        stuck: list[int] = []
        for k in range(n):
            if moves[k] or live.goal(states[k]):
                continue
            finding = next(
                (f for f in self.checks.findings if f.invariant == live.name and f.matches(states[k], None, self.config)),
                None,
            )
            if finding is None:
                stuck.append(k)
            else:
                hits.setdefault(finding.name, []).append(k)
        for f in self.checks.findings:
            if f.name in hits:
                first = hits[f.name][0]
                result.findings.append(FindingHit(f, len(hits[f.name]), self._replay(self._path(first, states, pred, via))))
        if stuck:
            result.violations.append(Violation(
                live.name, live.source, live.doc, self._replay(self._path(stuck[0], states, pred, via)),
                f"{len(stuck):,} reachable states where no program action moves and some started process "
                "has not terminated; the shallowest is at the path's end",
            ))
        on_cycle = _node_on_cycle(n, tails, heads)
        if on_cycle is not None:
            result.violations.append(Violation(
                live.name, live.source, live.doc, self._replay(self._path(on_cycle, states, pred, via)),
                "program actions alone can run forever: the state at the path's end lies on a cycle of them",
            ))

    # --- paths ----------------------------------------------------------------------------

    @staticmethod
    def _path(
        i: int, states: list[System], pred: array[int], via: list[tuple[Action, tuple[str, ...]] | None],
    ) -> tuple[tuple[Action, tuple[str, ...]], ...]:
        out = []
        while pred[i] != NO_PARENT:
            step = via[i]
            assert step is not None
            out.append(step)
            i = pred[i]
        return tuple(reversed(out))

    def _replay(self, path: tuple[tuple[Action, tuple[str, ...]], ...]) -> tuple[Step, ...]:
        """Turn a path between representatives into one real Python can follow from the start."""
        system = System.initial()
        rep = self._norm(system)
        out: list[Step] = []
        for action, rules in path:
            target = None
            for t in self.engine.fire(rep, action):
                if t.rules == rules:
                    target = self._norm(t.system)
                    break
            assert target is not None, "a recorded step no longer fires"
            chosen = next(
                (a, t) for a, t in self.successors(system) if t.rules == rules and self._norm(t.system) == target
            )
            system = chosen[1].system
            rep = target
            out.append(Step(chosen[0], chosen[1].rules, system))
        return tuple(out)


def _identity(system: System) -> System:
    return system


def _node_on_cycle(n: int, tails: array[int], heads: list[int]) -> int | None:
    """A node on a cycle of the graph ``tails[e] -> heads[e]`` (Kahn's algorithm), or None."""
    indegree = array("l", bytes(8 * n)) if n else array("l")
    out: list[list[int]] = [[] for _ in range(n)]
    for src, dst in zip(tails, heads, strict=True):
        out[src].append(dst)
        indegree[dst] += 1
    todo = [k for k in range(n) if indegree[k] == 0]
    while todo:
        k = todo.pop()
        for m in out[k]:
            indegree[m] -= 1
            if indegree[m] == 0:
                todo.append(m)
    left = [k for k in range(n) if indegree[k] > 0]
    if not left:
        return None
    # Every node left has a predecessor left: walking backwards must repeat a node, on a cycle.
    back: dict[int, int] = {}
    for src, dst in zip(tails, heads, strict=True):
        if indegree[src] > 0 and indegree[dst] > 0:
            back.setdefault(dst, src)
    seen: set[int] = set()
    k = min(left)
    while k not in seen:
        seen.add(k)
        k = back[k]
    return k


def rule_table_violations(model: Model) -> list[Violation]:
    """closed_handle_inert checked on the rules themselves, for either engine."""
    out = []
    for rid in closed_rules_ok(model.spec):
        rule = model.spec.rule(rid)
        out.append(Violation(
            "closed_handle_inert", "rule table", "a closed handle accepts no call except close() and daemon=",
            (), f"rule {rid} ({rule.label()}) changes a closed handle",
        ))
    return out


def follow(engine: Engine, steps: Iterable[tuple[Action, str]]) -> tuple[Step, ...]:
    """A path given as (action, first rule) pairs, such as a SPIN trail, as steps from the start."""
    system = System.initial()
    out: list[Step] = []
    for action, rule in steps:
        t = next((t for t in engine.fire(system, action) if t.rules[0] == rule), None)
        if t is None:
            raise ModelError(
                f"step {len(out) + 1}, {action.describe()} by rule {rule}, does not fire in:\n{system.describe()}"
            )
        system = t.system
        out.append(Step(action, t.rules, system))
    return tuple(out)


def all_checks() -> tuple[str, ...]:
    """The names of the base model's checks, in the order summaries list them (``Checks.names`` for a model's)."""
    return tuple([c.name for c in STATE_INVARIANTS] + [c.name for c in STEP_INVARIANTS] + [c.name for c in LIVENESS])


def explore(model: Model, bounds: Bounds, **options: object) -> Result:
    """Run the explorer once; ``options`` are ``Explorer`` fields."""
    return Explorer(model, bounds, **options).run()  # type: ignore[arg-type]
