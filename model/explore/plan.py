"""Directed test plans: short action sequences that together take every reachable rule, and
every reachable pair of a rule and an observed consequence (``consequences``).

The conformance harness runs these before exploring at random, so that coverage of the
model does not depend on luck. One breadth-first search over *settled* steps (an action,
then all it sets off, which is how the harness drives real processes) finds the shortest
path to each goal (a rule, or a rule with its consequence); the paths are merged into a
prefix tree, and the fewest leaves that together reach every goal become the runs.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.semantics import CONFIG_ONLY, Action, Ctx
from proclife.model.core.system import ProcState, System
from proclife.model.explore.consequences import consequences, pair_key, spec_candidates, split_key

Path = tuple[Action, ...]


@dataclass
class Plan:
    """Runs (each a list of actions from a fresh system), the rules they cannot take, and the
    (rule, consequence) pairs the search found reachable (``pair_key`` strings), all taken by the runs."""

    runs: list[list[Action]] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    unreachable: dict[str, str] = field(default_factory=dict)
    states_searched: int = 0
    pairs: set[str] = field(default_factory=set)


def _shape(system: System) -> System:
    """A system with its exit codes blanked: no guard reads a code, so paths need not tell them apart."""
    return System(tuple(p._replace(code=None, exitcode=None) for p in system.procs))


def goals(engine: Engine, system: System, action: Action, t: Transition) -> set[str]:
    """What one settled step achieves: its rules, and its (rule, consequence) pairs as keys."""
    return set(t.rules) | {pair_key(p) for p in consequences(engine, system, action, t)}


def shortest_paths(
    engine: Engine,
    bounds: Bounds,
    drivable: Callable[[Action], bool],
    max_states: int,
    start: System | None = None,
    prefix: Path = (),
    wanted: set[str] | None = None,
) -> tuple[dict[str, Path], int]:
    """The shortest settled path that reaches each goal, searching at most ``max_states`` systems."""
    start = start or System.initial()
    paths: dict[System, Path] = {_shape(start): prefix}
    first: dict[str, Path] = {}
    queue = deque([start])
    while queue and len(paths) < max_states:
        system = queue.popleft()
        here = paths[_shape(system)]
        for action, _ in engine.enabled(system, bounds):
            if not drivable(action):
                continue
            for t in engine.predict(system, action):
                path = (*here, action)
                for goal in goals(engine, system, action, t):
                    first.setdefault(goal, path)
                shape = _shape(t.system)
                if shape not in paths:
                    paths[shape] = path
                    queue.append(t.system)
        if wanted is not None and wanted.issubset(first):
            break
    return first, len(paths)


def _signature(system: System) -> frozenset[tuple[object, ...]]:
    """A coarse picture of a system: which kinds of process it holds, not how many or in what order."""
    return frozenset(
        (p.life, p.handle, p.sigterm, p.daemon,
         any(system.procs[c].running or system.procs[c].exiting for c in system.children(i)))
        for i, p in enumerate(system.procs)
    )


def _wanted_phases(engine: Engine, wanted: set[str]) -> frozenset[str]:
    """The exit phases that are the source of a process rule still wanted, alone or in a pair (the deep scenarios)."""
    rules = {split_key(goal)[0] for goal in wanted}
    return frozenset(
        leaf
        for rule in engine.spec.rules
        if rule.id in rules and rule.machine == "process"
        for s in rule.src
        for leaf in engine.spec.expand("process", s)
        if leaf.startswith("exiting")
    )


def _replay(engine: Engine, path: Path) -> System:
    system = System.initial()
    for action in path:
        system = engine.predict(system, action)[0].system
    return system


def _takes(engine: Engine, path: Path, goal: str, bounds: Bounds) -> bool:
    """Does ``path`` stay possible, and does its last step reach ``goal``?"""
    system = System.initial()
    for i, action in enumerate(path):
        if action not in set(engine.candidates(system, bounds)):
            return False
        outcomes = engine.predict(system, action)
        if not outcomes:
            return False
        if i == len(path) - 1:
            return any(goal in goals(engine, system, action, t) for t in outcomes)
        system = outcomes[0].system
    return False


def _shrink(engine: Engine, path: Path, goal: str, bounds: Bounds) -> Path:
    """Drop every action the goal does not need (one pass per position, last first)."""
    i = len(path) - 2
    while i >= 0:
        shorter = path[:i] + path[i + 1 :]
        if _takes(engine, shorter, goal, bounds):
            path = shorter
        i -= 1
    return path


def _reached(engine: Engine, path: Path, bounds: Bounds) -> set[str]:
    """Every goal some outcome of some step of ``path`` reaches, following the first outcome."""
    out: set[str] = set()
    system = System.initial()
    for action in path:
        outcomes = engine.predict(system, action)
        if not outcomes:
            break
        for t in outcomes:
            out |= goals(engine, system, action, t)
        system = outcomes[0].system
    return out


def _fewest(engine: Engine, first: dict[str, Path], bounds: Bounds) -> list[Path]:
    """The fewest leaves of the paths' prefix tree that together reach every goal (greedy set
    cover; a goal counts as reached by a leaf that extends the path found for it)."""
    paths = sorted(set(first.values()), key=lambda p: (len(p), [a.describe() for a in p]))
    leaves = [p for p in paths if not any(len(o) > len(p) and o[: len(p)] == p for o in paths)]
    reach = {leaf: _reached(engine, leaf, bounds) for leaf in leaves}
    for goal, path in first.items():
        for leaf in leaves:
            if leaf[: len(path)] == path:
                reach[leaf].add(goal)
    todo = set(first)
    chosen: list[Path] = []
    while todo:
        best = max(leaves, key=lambda p: (len(reach[p] & todo), -len(p)))
        gained = reach[best] & todo
        if not gained:
            break
        chosen.append(best)
        todo -= gained
    return sorted(chosen, key=lambda p: (len(p), [a.describe() for a in p]))


def directed_plan(
    engine: Engine,
    bounds: Bounds,
    drivable: Callable[[Action], bool],
    max_states: int = 8_000,
    walks: int = 8_000,
    seed: int = 0,
) -> Plan:
    """The fewest shortest runs that reach every rule and every (rule, consequence) pair found.

    A breadth-first search from the initial system finds most goals by their shortest
    path. Goals deeper than it reaches (the exit-sequence scenarios need seven steps; the
    spec names pairs, such as an exit phase entered with a live daemonic child, that it may
    not meet) are then sought by seeded random walks from the ends of the paths found, each
    hit shrunk by dropping every action the goal does not need.
    """
    first, searched = shortest_paths(engine, bounds, drivable, max_states)
    all_rules = {r.id for r in engine.spec.rules if not excluded_by_config(engine, r.id)}
    named = {pair_key(p) for p in spec_candidates(engine) if p[0] in all_rules}
    rng = random.Random(seed)
    # Coverage-guided search: a corpus of paths, each reaching a system of a new *signature*
    # (per process: life, handle, SIGTERM disposition, daemon flag, live children); extending
    # the rare ones reaches deep scenarios a uniform walk almost never does.
    corpus: list[tuple[Action, ...]] = sorted(set(first.values()), key=lambda p: (len(p), [a.describe() for a in p]))
    ends = {p: _replay(engine, p) for p in corpus}
    signatures = {_signature(system) for system in ends.values()}
    exiting = [p for p in corpus if any(q.exiting for q in ends[p].procs)]
    phases: frozenset[str] = frozenset()
    known_wanted = known_exiting = -1
    near: list[Path] = []
    for _ in range(walks):
        wanted = (all_rules | named) - set(first)
        if not wanted or not corpus:
            break
        if len(wanted) != known_wanted or len(exiting) != known_exiting:
            phases, known_wanted, known_exiting = _wanted_phases(engine, wanted), len(wanted), len(exiting)
            near = [p for p in exiting if phases.intersection(q.life for q in ends[p].procs)]
        pool = near if near and rng.random() < 0.6 else corpus[-max(1, len(corpus) // 4):]
        path = rng.choice(pool) if rng.random() < 0.8 else rng.choice(corpus)
        system = ends[path]
        for _step in range(6):
            options = [(a, t, goals(engine, system, a, t)) for a, _ in engine.enabled(system, bounds)
                       if drivable(a) for t in engine.predict(system, a)]
            if not options:
                break
            hits = [o for o in options if wanted.intersection(o[2])]
            action, t, reached = rng.choice(hits or options)
            path = (*path, action)
            searched += 1
            for goal in reached - set(first):  # the wanted one, and any pair no search had met
                first[goal] = _shrink(engine, path, goal, bounds)
            system = t.system
            if hits:
                break
            signature = _signature(system)
            if signature not in signatures:
                signatures.add(signature)
                corpus.append(path)
                ends[path] = system
                if any(q.exiting for q in system.procs):
                    exiting.append(path)
    rules = {r.id for r in engine.spec.rules}
    plan = Plan(covered=set(first) & rules, states_searched=searched, pairs=set(first) - rules)
    for rule in engine.spec.rules:
        if rule.id not in first:
            plan.unreachable[rule.id] = _why_unreachable(engine, rule.id, bounds)
    plan.runs = [list(p) for p in _fewest(engine, first, bounds)]
    return plan


def excluded_by_config(engine: Engine, rule_id: str) -> str | None:
    """The configuration-only guard that rules ``rule_id`` out for every process, if there is one."""
    rule = engine.spec.rule(rule_id)
    static = [g for g in rule.when if g.lstrip("!") in CONFIG_ONLY]
    if not static:
        return None
    probe = System.initial().add(ProcState(parent=0, daemon=False))[0]
    for pid in (0, 1):
        ctx = Ctx(engine.config, Action(rule.event, pid), engine)
        if all(engine.semantics.guards[g.lstrip("!")](probe, ctx) != g.startswith("!") for g in static):
            return None
    return ", ".join(static)


def _why_unreachable(engine: Engine, rule_id: str, bounds: Bounds) -> str:
    rule = engine.spec.rule(rule_id)
    event = engine.event(rule.event)
    if event.drive is None and event.actor != "internal":
        return f"event {event.name!r} is model-only: no runtime drives it"
    static = excluded_by_config(engine, rule_id)
    if static:
        python = ".".join(map(str, engine.config.python))
        return f"does not apply here: [{static}] never holds under start method {engine.config.start_method}, Python {python}"
    where = (
        f"procs={bounds.procs}, threads={bounds.threads}, depth={bounds.depth}, "
        f"start method {engine.config.start_method}"
    )
    return (
        f"not found by the directed search ({where}): either its guards never hold there, "
        f"or the path is longer than the search reached; random exploration may still take it"
    )
