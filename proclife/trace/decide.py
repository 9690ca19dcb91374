"""A recorded trace decided against the model: is some ordering of its steps a run of the model?

The trace's steps (``proclife.trace.steps``) come one sequence per process. The search takes
them in time order and branches only where it must: a step may go next when no step still to
come ended before it began (two facts whose spans do not overlap keep their order), a
``create_child`` only as the next model pid. The model's nondeterminism is kept as a set of
states, as the conformance runner keeps several allowed outcomes, and so is its own progress
(``proclife.trace.progress``); a frontier node is (the position in each sequence, that set), and
a node seen once is not searched again. The answer is accepted, rejected at the first step no
rule allows (the deepest the search got), or undecided.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proclife.model.core.engine import Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import load
from proclife.model.core.semantics import CONFIG_ONLY, Action, Ctx
from proclife.model.core.system import PYTHONS, START_METHODS, Config, System
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.trace.progress import PROCEED, Phases, Progress, concerned
from proclife.trace.steps import Step, Translation, translate
from proclife.trace.view import Json

BUDGET = 100_000  # frontier nodes searched before the answer is "undecided"


@dataclass(frozen=True)
class Setting:
    """The model a trace is decided against: its profile, start method and Python, and its engine."""

    profile: str
    start_method: str
    python: tuple[int, int]
    engine: Engine


def setting(doc: Json, profile: str | None = None) -> Setting:
    """The trace's Python (its main process's ``observer_installed``) and start method (its first
    child's), the profile given or the standard library's for that start method."""
    version = doc.get("python") or "3.11"
    major, minor = (int(x) for x in version.split(".")[:2])
    python = (major, minor) if (major, minor) in PYTHONS else min(PYTHONS, key=lambda v: abs(v[1] - minor))
    methods = [p["start_method"] for p in doc["processes"] if p.get("start_method") in START_METHODS]
    method = methods[0] if methods else "fork"
    chosen = resolve_profile(profile) if profile else default_profile(method)
    model = load(base=model_of(chosen))
    engine = Engine(model.spec, model.semantics, Config(start_method=method, python=python))  # type: ignore[arg-type]
    return Setting(chosen.name, method, python, engine)


@dataclass(frozen=True)
class _Link:
    """The path so far, as a linked list (shared between the branches of the search)."""

    step: Step
    prev: _Link | None
    changed: tuple[tuple[int, tuple[str, ...]], ...] = ()  # model pid -> the rules that changed it here


def _path(link: _Link | None) -> list[_Link]:
    out = []
    while link is not None:
        out.append(link)
        link = link.prev
    return out[::-1]


@dataclass
class _Failure:
    """A step no state of the set allowed, after ``depth`` steps of the path ``link``."""

    depth: int
    step: Step
    states: frozenset[System]
    link: _Link | None


@dataclass
class Decision:
    """The answer for one trace, with what it took to reach it (``as_json``: the trace's ``decision``)."""

    verdict: str  # accepted | rejected | undecided
    setting: Setting
    translation: Translation
    matched: int = 0
    nodes: int = 0
    held: int = 1
    seconds: float = 0.0
    reason: str | None = None
    failure: _Failure | None = None
    path: list[_Link] = field(default_factory=list)

    def as_json(self) -> Json:
        out: Json = {
            "verdict": self.verdict, "profile": self.setting.profile, "start_method": self.setting.start_method,
            "python": ".".join(map(str, self.setting.python)), "steps": self.translation.steps,
            "matched": self.matched, "searched": self.nodes, "states_held": self.held,
            "seconds": round(self.seconds, 3),
            "outside": {"count": sum(self.translation.outside.values()),
                        "facts": dict(sorted(self.translation.outside.items()))},
            "reason": self.reason, "rejected": None,
        }
        if self.failure is not None:
            out["rejected"] = _rejection(self.setting.engine, self.failure, self.translation)
        return out


def _actor_ok(engine: Engine, system: System, action: Action) -> bool:
    event = engine.event(action.event)
    if not 0 <= action.pid < len(system.procs):
        return False
    acting = system.procs[action.pid].parent if event.machine == "handle" else action.pid
    return acting is not None and engine.actor(system, acting, event.by)


def _fire(engine: Engine, system: System, action: Action) -> list[tuple[System, tuple[str, ...]]]:
    """The outcomes of ``action`` from ``system`` (none if no rule allows it there)."""
    if not _actor_ok(engine, system, action):
        return []
    try:
        return [(t.system, t.rules) for t in engine.fire(system, action)]
    except ModelError:
        return []  # no such thread or process in this state: not allowed here


def _changed(before: System, after: System, rules: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
    return [(i, rules) for i, proc in enumerate(after.procs) if i >= len(before.procs) or before.procs[i] is not proc]


def outcomes(engine: Engine, progress: Progress, phases: Phases, step: Step,
             system: System) -> dict[System, tuple[str, ...]]:
    """The states after ``step`` from ``system``, each with the rules that led there (empty: no rule allows it).

    The processes the step concerns first progress by themselves as far as the model lets them
    (every stage of it kept), then the step is taken, or checked, from each of those states."""
    after: dict[System, tuple[str, ...]] = {}
    for ready, before in progress.reach(system, (), concerned(engine, system, step)).items():
        if step.check is not None:
            if phases.holds(step.check, ready):
                after.setdefault(ready, before)
            continue
        assert step.action is not None
        for new, rules in _fire(engine, ready, step.action):
            after.setdefault(new, before + rules)
    return after


def _advance(engine: Engine, progress: Progress, phases: Phases, step: Step,
             states: frozenset[System]) -> tuple[frozenset[System], tuple[Any, ...]]:
    """The states after ``step`` from any of ``states`` (empty: no rule allows it), and what each changed."""
    changes: dict[int, tuple[str, ...]] = {}
    after: dict[System, tuple[str, ...]] = {}
    for system in states:
        for new, rules in outcomes(engine, progress, phases, step, system).items():
            after.setdefault(new, rules)
    first = next(iter(states))  # what changed, against one state: enough to say which rules brought a process there
    for new, rules in after.items():
        for pid, _ in _changed(first, new, rules):
            changes[pid] = tuple(dict.fromkeys(changes.get(pid, ()) + rules))
    return frozenset(after), tuple(sorted(changes.items()))


@dataclass
class Outcome:
    """What the search found: its verdict, how much it searched, the deepest failure, the accepted path."""

    verdict: str
    nodes: int = 0
    held: int = 1  # the most model states held at once
    widest: frozenset[System] = frozenset()  # those states
    final: frozenset[System] = frozenset()  # accepted: the model's states after the last step
    failure: _Failure | None = None
    path: list[_Link] = field(default_factory=list)


def search(engine: Engine, translation: Translation, budget: int = BUDGET) -> Outcome:
    """Depth first over the ready steps, earliest first, each node (positions, set of states) once."""
    seqs = [translation.sequences[pid] for pid in sorted(translation.sequences)]
    total = sum(len(s) for s in seqs)
    start = (tuple(0 for _ in seqs), frozenset({System.initial()}))
    seen = {start}
    stack: list[tuple[tuple[int, ...], frozenset[System], int, _Link | None]] = [(*start, 0, None)]
    out = Outcome("rejected")
    phases, progress = Phases(engine), Progress(engine)
    while stack:
        positions, states, depth, link = stack.pop()
        out.nodes += 1
        if depth == total:
            out.verdict, out.failure, out.path, out.final = "accepted", None, _path(link), states
            return out
        if out.nodes > budget:
            out.verdict = "undecided"
            return out
        heads = [(j, seqs[j][p]) for j, p in enumerate(positions) if p < len(seqs[j])]
        horizon = min(step.end for _, step in heads)
        procs = len(next(iter(states)).procs)
        ready = [(j, step) for j, step in heads if step.begin <= horizon
                 and (step.creates is None or step.creates == procs)]
        if not ready:  # only creations out of the model's pid order: the earliest is the one refused
            j, step = min(heads, key=lambda item: item[1].order)
            if out.failure is None or depth > out.failure.depth:
                out.failure = _Failure(depth, step, states, link)
        for j, step in sorted(ready, key=lambda item: (item[1].end, item[0]), reverse=True):
            after, changes = _advance(engine, progress, phases, step, states)
            if not after:
                if out.failure is None or depth > out.failure.depth:
                    out.failure = _Failure(depth, step, states, link)
                continue
            moved = positions[:j] + (positions[j] + 1,) + positions[j + 1:]
            if (moved, after) in seen:
                continue
            seen.add((moved, after))
            if len(after) > out.held:
                out.held, out.widest = len(after), after
            stack.append((moved, after, depth + 1, _Link(step, link, changes)))
    return out


def decide(doc: Json, profile: str | None = None, budget: int = BUDGET) -> Decision:
    """The trace ``doc`` decided against the model of ``profile`` (default: the trace's own)."""
    began = time.perf_counter()
    chosen = setting(doc, profile)
    translation = translate(doc, chosen.engine)
    main = next((p for p in doc["processes"] if p["pid"] == doc["program"]["pid"]), None)
    if main is None or main["first_event"] is None:
        return Decision("undecided", chosen, translation, reason="no event from the main process: nothing to decide")
    found = search(chosen.engine, translation, budget)
    verdict = found.verdict
    decision = Decision(verdict, chosen, translation, nodes=found.nodes, held=found.held, path=found.path,
                        failure=found.failure if verdict == "rejected" else None)
    decision.matched = len(found.path) if verdict == "accepted" else (found.failure.depth if found.failure else 0)
    if verdict == "undecided":
        decision.reason = f"the search passed its budget of {budget} nodes"
    elif translation.incomplete:
        if verdict == "accepted":
            decision.verdict = "undecided"
        decision.reason = "the trace is incomplete: " + "; ".join(translation.incomplete)
    decision.seconds = time.perf_counter() - began
    return decision


# --- a rejection, in words and JSON -------------------------------------------------------


def rules_there(engine: Engine, states: Iterable[System], step: Step) -> list[Json]:
    """The rules possible at a rejected step: for an action, those of its event from the component's
    state (each guard's value); for a check, those that would have made it hold."""
    out: dict[str, Json] = {}
    sources = {rule.id: rule.source.ref for rule in engine.spec.rules}
    for system in states:
        action = step.action or Action(PROCEED, step.check.pid if step.check else 0)
        if not 0 <= action.pid < len(system.procs):
            continue
        event = engine.event(action.event)
        try:
            state = engine.component_state(system, event.machine, action)
        except ModelError:
            continue
        ctx = Ctx(engine.config, action, engine)
        for rule in engine.spec.rules:
            if rule.machine != event.machine or rule.event != action.event:
                continue
            if not any(state in engine.spec.expand(rule.machine, s) for s in rule.src):
                continue
            guards = {g: engine.semantics.guards[g.lstrip("!")](system, ctx) != g.startswith("!") for g in rule.when}
            if any(not ok and g.lstrip("!") in CONFIG_ONLY for g, ok in guards.items()):
                continue  # never for this process under this configuration
            out.setdefault(rule.id, {"id": rule.id, "source": sources[rule.id], "from": state, "guards": guards})
    return list(out.values())


def _last_changed(failure: _Failure, pid: int) -> list[str]:
    """The rules that made model process ``pid``'s state what it is: those of the last step aimed at
    it that changed it, and of every later step that moved it on (its exit sequence, a signal)."""
    rules: list[str] = []
    for link in reversed(_path(failure.link)):
        fired = next((r for changed, r in link.changed if changed == pid), ())
        rules[:0] = [r for r in fired if r not in rules]
        if fired and link.step.action is not None and link.step.action.pid == pid:
            break
    return rules


def _rejection(engine: Engine, failure: _Failure, translation: Translation) -> Json:
    """The rejected step in JSON: where, the model's states, the rules possible there (none from that
    state, or an exit code held against the state: the rules that brought its process there), the path."""
    step = failure.step
    rules = [] if step.check is not None and step.check.kind == "exitcode" else \
        rules_there(engine, failure.states, step)
    if not rules:
        sources = {rule.id: rule.source.ref for rule in engine.spec.rules}
        about = step.check.pid if step.check is not None else step.action.pid if step.action is not None else 0
        rules = [{"id": r, "source": sources[r], "from": None, "guards": {}} for r in _last_changed(failure, about)]
    return {
        "pid": step.pid, "model_pid": translation.model_pids.get(step.pid), "thread": step.thread,
        "fact": step.what, "begin": step.begin, "end": step.end,
        "step": step.action.as_json() if step.action is not None else None,
        "check": step.check.describe() if step.check is not None else None,
        "states": [s.describe().splitlines() for s in sorted(failure.states, key=lambda s: s.describe())],
        "rules": rules,
        "path": [link.step.action.as_json() for link in _path(failure.link) if link.step.action is not None],
    }


def decision_lines(decision: Json) -> list[str]:
    """The decision for the summary, a few lines."""
    outside = decision["outside"]
    more = f"; {outside['count']} fact(s) outside the model" if outside["count"] else ""
    head = (f"  decision: {decision['verdict']} by the model of {decision['profile']} ({decision['start_method']}, "
            f"Python {decision['python']}): {decision['matched']} of {decision['steps']} steps matched{more}")
    lines = [head]
    for fact, count in outside["facts"].items():
        lines.append(f"    outside the model: {count} x {fact}")
    if decision["reason"]:
        lines.append(f"    {decision['reason']}")
    rejected = decision["rejected"]
    if rejected:
        what = rejected["check"] or Action.from_json(rejected["step"]).describe()
        lines.append(f"    rejected at pid {rejected['pid']} (P{rejected['model_pid']}), thread {rejected['thread']}: "
                     f"{rejected['fact']} ({what}); no rule allows it")
        for i, state in enumerate(rejected["states"]):
            lines.append(f"    model state {i + 1}: " + " | ".join(state))
        for rule in rejected["rules"]:
            failed = [g for g, ok in rule["guards"].items() if not ok]
            why = f" (guard {', '.join(failed)} false)" if failed else ""
            lines.append(f"    possible: {rule['id']}{why}: {rule['source']}")
    return lines
