"""Directed test plans: short action sequences that together take every reachable rule.

The conformance harness runs these before exploring at random, so that coverage of the
model does not depend on luck. One breadth-first search over *settled* steps (an action,
then all it sets off, which is how the harness drives real processes) finds the shortest
path to each rule; the paths are merged into a prefix tree and each leaf becomes one run.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.semantics import CONFIG_ONLY, Action, Ctx
from proclife.model.core.system import ProcState, System

Path = tuple[Action, ...]


@dataclass
class Plan:
    """Runs (each a list of actions from a fresh system) and the rules they cannot take."""

    runs: list[list[Action]] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    unreachable: dict[str, str] = field(default_factory=dict)
    states_searched: int = 0


def _shape(system: System) -> System:
    """A system with its exit codes blanked: no guard reads a code, so paths need not tell them apart."""
    return System(tuple(p._replace(code=None, exitcode=None) for p in system.procs))


def shortest_paths(
    engine: Engine,
    bounds: Bounds,
    drivable: Callable[[Action], bool],
    max_states: int,
    start: System | None = None,
    prefix: Path = (),
    wanted: set[str] | None = None,
) -> tuple[dict[str, Path], int]:
    """The shortest settled path that takes each rule, searching at most ``max_states`` systems."""
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
                for rule in t.rules:
                    first.setdefault(rule, path)
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
    """The exit phases that are the source of a process rule still wanted (the deep scenarios)."""
    return frozenset(
        leaf
        for rule in engine.spec.rules
        if rule.id in wanted and rule.machine == "process"
        for s in rule.src
        for leaf in engine.spec.expand("process", s)
        if leaf.startswith("exiting")
    )


def _replay(engine: Engine, path: Path) -> System:
    system = System.initial()
    for action in path:
        system = engine.predict(system, action)[0].system
    return system


def _takes(engine: Engine, path: Path, rule: str, bounds: Bounds) -> bool:
    """Does ``path`` stay possible, and does its last step take ``rule``?"""
    system = System.initial()
    for i, action in enumerate(path):
        if action not in set(engine.candidates(system, bounds)):
            return False
        outcomes = engine.predict(system, action)
        if not outcomes:
            return False
        if i == len(path) - 1:
            return any(rule in t.rules for t in outcomes)
        system = outcomes[0].system
    return False


def _shrink(engine: Engine, path: Path, rule: str, bounds: Bounds) -> Path:
    """Drop every action the rule does not need (one pass per position, last first)."""
    i = len(path) - 2
    while i >= 0:
        shorter = path[:i] + path[i + 1 :]
        if _takes(engine, shorter, rule, bounds):
            path = shorter
        i -= 1
    return path


def directed_plan(
    engine: Engine,
    bounds: Bounds,
    drivable: Callable[[Action], bool],
    max_states: int = 8_000,
    walks: int = 4_000,
    seed: int = 0,
) -> Plan:
    """One run per leaf of the prefix tree of the shortest paths to every rule.

    A breadth-first search from the initial system finds most rules by their shortest
    path. Rules deeper than it reaches (the exit-sequence scenarios need seven steps) are
    then sought by seeded random walks from the ends of the paths found, each hit shrunk by
    dropping every action the rule does not need.
    """
    first, searched = shortest_paths(engine, bounds, drivable, max_states)
    all_rules = {r.id for r in engine.spec.rules if not excluded_by_config(engine, r.id)}
    rng = random.Random(seed)
    # Coverage-guided search: a corpus of paths, each reaching a system of a new *signature*
    # (per process: life, handle, SIGTERM disposition, daemon flag, live children); extending
    # the rare ones reaches deep scenarios a uniform walk almost never does.
    corpus: list[tuple[Action, ...]] = sorted(set(first.values()), key=lambda p: (len(p), [a.describe() for a in p]))
    ends = {p: _replay(engine, p) for p in corpus}
    signatures = {_signature(system) for system in ends.values()}
    exiting = [p for p in corpus if any(q.exiting for q in ends[p].procs)]
    phases: frozenset[str] = frozenset()
    known_wanted = -1
    for _ in range(walks):
        wanted = all_rules - set(first)
        if not wanted or not corpus:
            break
        if len(wanted) != known_wanted:
            phases, known_wanted = _wanted_phases(engine, wanted), len(wanted)
        near = [p for p in exiting if phases.intersection(q.life for q in ends[p].procs)]
        pool = near if near and rng.random() < 0.6 else corpus[-max(1, len(corpus) // 4):]
        path = rng.choice(pool) if rng.random() < 0.8 else rng.choice(corpus)
        system = ends[path]
        for _step in range(6):
            options = [(a, t) for a, _ in engine.enabled(system, bounds) if drivable(a) for t in engine.predict(system, a)]
            if not options:
                break
            hits = [o for o in options if wanted.intersection(o[1].rules)]
            action, t = rng.choice(hits or options)
            path = (*path, action)
            system = t.system
            searched += 1
            if hits:
                for hit in wanted.intersection(t.rules):
                    first[hit] = _shrink(engine, path, hit, bounds)
                break
            signature = _signature(system)
            if signature not in signatures:
                signatures.add(signature)
                corpus.append(path)
                ends[path] = system
                if any(q.exiting for q in system.procs):
                    exiting.append(path)
    plan = Plan(covered=set(first), states_searched=searched)
    for rule in engine.spec.rules:
        if rule.id not in first:
            plan.unreachable[rule.id] = _why_unreachable(engine, rule.id, bounds)
    paths = sorted(set(first.values()), key=lambda p: (len(p), [a.describe() for a in p]))
    leaves = [p for p in paths if not any(len(o) > len(p) and o[: len(p)] == p for o in paths)]
    plan.runs = [list(p) for p in leaves]
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
