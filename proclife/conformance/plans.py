"""Directed plans, computed once per model: committed for the standard start methods, cached for the rest.

The search is deterministic but costs 7-20 s of CPU per model, start method and Python
version, so the plans of the standard library's start methods are committed beside this
module (``committed_plans/``, refreshed by ``python -m proclife.conformance.plans``) and
every other plan is cached on disk after its first search. A plan is found by a key that
hashes the spec, the configuration, the bounds and the source of the model code that
decides the search, so a changed model never reuses an old plan; the tests fail when the
committed plans are not those of the current model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import proclife.model
from proclife.conformance.runner import drivable
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.extend import load
from proclife.model.core.semantics import Action
from proclife.model.core.system import PYTHONS, START_METHODS, Config, System
from proclife.model.explore.plan import Plan, directed_plan, goals
from proclife.model.explore.plan import _reached as reached  # the plan's own walk of a path

PLAN_FORMAT = "proclife.plan/4"  # 4: runs aim at (rule, consequence) pairs too, listed as "pairs"
COMMITTED = Path(__file__).resolve().with_name("committed_plans")
# The model code a plan depends on besides the spec: the semantics, the engine, the profiles, the search.
_DECIDING = ("core", "profiles", "explore/plan.py", "explore/consequences.py")


def rule_cover(engine: Engine, runs: list[list[Action]]) -> list[list[Action]]:
    """The fewest of ``runs`` that together take every rule they take (greedy set cover, in the
    runs' order): a quick check's directed phase, which leaves the consequences to the plan."""
    rules = [_rules_of(engine, run) for run in runs]
    todo = set().union(*rules) if rules else set()
    chosen: list[int] = []
    while todo:
        best = max(range(len(runs)), key=lambda i: (len(rules[i] & todo), -len(runs[i])))
        if not rules[best] & todo:
            break
        chosen.append(best)
        todo -= rules[best]
    return [runs[i] for i in sorted(chosen)]


def _rules_of(engine: Engine, run: list[Action]) -> set[str]:
    """Every rule some outcome of some step of ``run`` takes (the plan search's own walk, rules only)."""
    rule_ids = {rule.id for rule in engine.spec.rules}
    return {goal for goal in reached(engine, tuple(run), Bounds()) if goal in rule_ids}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "proclife" / "plans"


@functools.cache
def model_source_hash() -> str:
    """A hash of the model code that decides a plan (a semantics change leaves the spec's repr alone)."""
    root = Path(proclife.model.__file__).resolve().parent
    files = sorted(
        f for part in _DECIDING for f in ((root / part).rglob("*.py") if (root / part).is_dir() else [root / part])
    )
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def plan_key(engine: Engine, bounds: Bounds) -> str:
    text = repr((PLAN_FORMAT, model_source_hash(), engine.spec, engine.config, bounds))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def plan_for(engine: Engine, bounds: Bounds) -> Plan:
    """The directed plan for this model, start method and bounds: committed, cached, or searched now."""
    name = f"{plan_key(engine, bounds)}.json"
    for folder in (COMMITTED, cache_dir()):
        plan = read_plan(folder / name)
        if plan is not None:
            return plan
    plan = directed_plan(engine, bounds, drivable(engine))
    with contextlib.suppress(OSError):  # a read-only home only costs the search next time
        _write(cache_dir() / name, plan_json(plan, engine, bounds))
    return plan


def read_plan(path: Path) -> Plan | None:
    """The plan stored at ``path``; None when it is missing, unreadable or of another format."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text())
        if data["format"] != PLAN_FORMAT:
            return None
        return Plan(
            runs=[[Action.from_json(a) for a in run] for run in data["runs"]],
            covered=set(data["covered"]),
            unreachable=dict(data["unreachable"]),
            states_searched=int(data["states_searched"]),
            pairs=set(data["pairs"]),
        )
    return None


def plan_json(plan: Plan, engine: Engine, bounds: Bounds) -> str:
    """The stored form: what it was computed for (for a reader), then one run per line (for a diff)."""
    head = {
        "format": PLAN_FORMAT,
        "key": plan_key(engine, bounds),
        "model": engine.spec.name,
        "start_method": engine.config.start_method,
        "python": ".".join(map(str, engine.config.python)),
        "bounds": [bounds.procs, bounds.threads, bounds.depth],
        "states_searched": plan.states_searched,
        "covered": sorted(plan.covered),
        "unreachable": dict(sorted(plan.unreachable.items())),
        "pairs": sorted(plan.pairs),
    }
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in head.items()]
    runs = ",\n".join("  " + json.dumps([a.as_json() for a in run]) for run in plan.runs)
    return "{\n" + ",\n".join(lines) + ',\n"runs": [\n' + runs + "\n]}\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def committed_engines() -> list[Engine]:
    """The engines whose plans are committed: the standard model, each start method, each Python version."""
    model = load()
    return [
        Engine(model.spec, model.semantics, Config(start_method=method, python=python))  # type: ignore[arg-type]
        for method in START_METHODS
        for python in PYTHONS
    ]


def unperformable_step(engine: Engine, bounds: Bounds, run: list[Action], taken: set[str]) -> Action | None:
    """The first action of ``run`` that cannot be performed from a fresh system (every action must
    be a drivable candidate in some outcome of the steps before it), or None; the rules and the
    (rule, consequence) pair keys reached go to ``taken``."""
    can_drive = drivable(engine)
    systems: set[System] = {System.initial()}
    for action in run:
        enabled = [s for s in systems if action in set(engine.candidates(s, bounds))]
        if not enabled or not can_drive(action):
            return action
        outcomes = [(s, t) for s in enabled for t in engine.predict(s, action)]
        taken.update(g for s, t in outcomes for g in goals(engine, s, action, t))
        systems = {t.system for _, t in outcomes}
    return None


def plan_problems(engine: Engine, bounds: Bounds, plan: Plan) -> list[str]:
    """What makes ``plan`` wrong for ``engine`` (cheap: a replay in the model, no search); empty if nothing.

    Each run must be performable from a fresh system (every action a drivable candidate in
    some outcome of the steps before it), the rules said covered must be taken by some run,
    and every other rule must carry its reason.
    """
    problems: list[str] = []
    taken: set[str] = set()
    for number, run in enumerate(plan.runs, 1):
        stuck = unperformable_step(engine, bounds, run, taken)
        if stuck is not None:
            problems.append(f"run {number}: {stuck.describe()} cannot be performed there")
    if plan.covered - taken:
        problems.append(f"said covered, taken by no run: {sorted(plan.covered - taken)}")
    if plan.pairs - taken:
        problems.append(f"pairs said reachable, reached by no run: {sorted(plan.pairs - taken)}")
    rules = {r.id for r in engine.spec.rules}
    if rules - plan.covered - set(plan.unreachable):
        problems.append(f"neither covered nor explained: {sorted(rules - plan.covered - set(plan.unreachable))}")
    return problems


def _search(index: int) -> tuple[str, str]:
    engine = committed_engines()[index]
    plan = directed_plan(engine, Bounds(), drivable(engine))
    return f"{plan_key(engine, Bounds())}.json", plan_json(plan, engine, Bounds())


def refresh_committed() -> tuple[list[str], list[str]]:
    """Search every committed plan again and replace the folder's contents: (written, removed)."""
    count = len(committed_engines())
    with ProcessPoolExecutor(max_workers=min(count, os.cpu_count() or 1)) as pool:
        fresh = dict(pool.map(_search, range(count)))
    removed = sorted(p.name for p in COMMITTED.glob("*.json") if p.name not in fresh)
    for name in removed:
        (COMMITTED / name).unlink()
    for name, text in fresh.items():
        _write(COMMITTED / name, text)
    return sorted(fresh), removed


if __name__ == "__main__":
    written, removed = refresh_committed()
    print(f"{COMMITTED}: wrote {len(written)} plans, removed {len(removed)} stale ones")
    sys.exit(0)
