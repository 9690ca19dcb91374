"""The executable composite model: given a system and an action, what may follow.

``fire`` applies one event (every matching rule is an allowed alternative); ``settle`` runs
the internal events (the exit sequence's progress, reaping) until nothing more happens by
itself; ``predict`` is the two together, which is what the conformance harness compares
with real processes after each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

from proclife.model.core.base import REAPED
from proclife.model.core.errors import ModelError, RuleCallError, UnknownActionError
from proclife.model.core.semantics import NO_ARG, Action, Ctx, Guard, Semantics, base_semantics
from proclife.model.core.spec import NEEDS_ACTOR, THREAD_MAKERS, EventDef, Rule, Spec
from proclife.model.core.system import MAIN, Config, System, acting_thread, threads_act


def _call_failed(rule: Rule, kind: str, name: str, fn: object, exc: Exception) -> RuleCallError | None:
    """The user's guard or effect that raised, named with its rule; None for one of proclife's own."""
    if getattr(fn, "__module__", "").startswith("proclife."):
        return None  # proclife's own guard or effect: a crash of proclife, shown as one
    return RuleCallError(
        f"rule {rule.id!r}: {kind} {name!r} raised {type(exc).__name__}: {exc}; fix the {kind} "
        f"(the engine calls it as {kind}(system, ctx{', arg' if kind == 'effect' else ''}))"
    )


@dataclass(frozen=True)
class Transition:
    """One allowed outcome of an action: the rules that fired, what the caller saw, the new system."""

    rules: tuple[str, ...]
    observed: str
    system: System


@dataclass(frozen=True)
class Bounds:
    """How big a system the generator may build: processes besides main, threads each, tree depth."""

    procs: int = 2
    threads: int = 1
    depth: int = 2


@dataclass
class Engine:
    spec: Spec
    semantics: Semantics = field(default_factory=base_semantics)
    config: Config = field(default_factory=Config)

    def __post_init__(self) -> None:
        # (machine, event) -> each rule with the leaf states it fires from and its guards, looked up once
        self._index: dict[tuple[str, str], list[tuple[Rule, frozenset[str], tuple[tuple[Guard, bool], ...]]]] = {}
        # (machine, event) -> every leaf state some rule of it fires from
        self._sources: dict[tuple[str, str], frozenset[str]] = {}
        guards = self.semantics.guards
        for rule in self.spec.rules:
            leaves = frozenset(leaf for s in rule.src for leaf in self.spec.expand(rule.machine, s))
            compiled = tuple((guards[g.lstrip("!")], g.startswith("!")) for g in rule.when if g.lstrip("!") in guards)
            self._index.setdefault((rule.machine, rule.event), []).append((rule, leaves, compiled))
            key = (rule.machine, rule.event)
            self._sources[key] = self._sources.get(key, frozenset()) | leaves
        self._events = {e.name: e for e in self.spec.events}
        self.fire = lru_cache(maxsize=500_000)(self._fire)  # type: ignore[method-assign]
        self.settle = lru_cache(maxsize=200_000)(self._settle)  # type: ignore[method-assign]
        self._internal = [e.name for e in self.spec.events if e.actor == "internal" and e.name != "launch"]

    # --- one event -----------------------------------------------------------------

    def event(self, name: str) -> EventDef:
        try:
            return self._events[name]
        except KeyError:
            known = ", ".join(sorted(self._events))
            raise UnknownActionError(f"unknown event {name!r}; the model knows: {known}") from None

    def component_state(self, system: System, machine: str, action: Action) -> str | None:
        if not 0 <= action.pid < len(system.procs):
            raise UnknownActionError(f"{action.describe()}: there is no process P{action.pid}")
        proc = system.procs[action.pid]
        if machine == "handle":
            return proc.handle
        if machine == "process":
            return proc.life
        if action.thread is None or not 0 <= action.thread < len(proc.threads):
            raise UnknownActionError(f"{action.describe()}: P{action.pid} has no such thread")
        return proc.threads[action.thread].life

    def matching(self, system: System, action: Action, ctx: Ctx | None = None) -> list[Rule]:
        """The rules that apply: source state matches and every guard holds."""
        machine = self.event(action.event).machine
        state = self.component_state(system, machine, action)
        if ctx is None:
            ctx = Ctx(self.config, action, self)
        out = []
        for rule, leaves, guards in self._index.get((machine, action.event), ()):
            if state in leaves:
                if len(guards) != len(rule.when):  # a guard the semantics lacks: named by the lookup
                    guards = tuple((self.semantics.guards[g.lstrip("!")], g.startswith("!")) for g in rule.when)
                try:  # free unless it raises (3.11+): the hot path stays as fast
                    for guard, negate in guards:
                        if guard(system, ctx) == negate:
                            break
                    else:
                        out.append(rule)
                except ModelError:
                    raise
                except Exception as exc:
                    named = self._guard_failed(rule, system, ctx, exc)
                    if named is None:
                        raise
                    raise named from exc
        return out

    def _guard_failed(self, rule: Rule, system: System, ctx: Ctx, exc: Exception) -> RuleCallError | None:
        """Which guard of ``rule`` raised, named; a guard of proclife's own is proclife's failure."""
        for g in rule.when:
            fn = self.semantics.guards[g.lstrip("!")]
            try:
                fn(system, ctx)
            except Exception as again:
                return _call_failed(rule, "guard", g, fn, again)
        return _call_failed(rule, "guard", " and ".join(rule.when), None, exc)

    def _fire(self, system: System, action: Action) -> tuple[Transition, ...]:
        out: list[Transition] = []
        ctx = Ctx(self.config, action, self)
        for rule in self.matching(system, action, ctx):
            branches: list[tuple[System, tuple[str, ...]]] = [(self._move(system, rule, action), (rule.id,))]
            for effect in rule.effects:
                name, _, arg = effect.partition(":")
                fn = self.semantics.effects[name]
                try:
                    branches = [
                        (s2, fired + more) for s1, fired in branches for s2, more in fn(s1, ctx, arg or None)
                    ]
                except ModelError:
                    raise
                except Exception as exc:
                    named = _call_failed(rule, "effect", name, fn, exc)
                    if named is None:
                        raise
                    raise named from exc
            for final, fired in branches:
                out.append(Transition(fired, self._observe(rule, final, action), final))
        return tuple(out)

    def _move(self, system: System, rule: Rule, action: Action) -> System:
        if rule.dst is None:
            return system
        if rule.machine == "handle":
            return system.update(action.pid, handle=rule.dst)
        if rule.machine == "process":
            return system.update(action.pid, life=rule.dst)
        proc = system.procs[action.pid]
        assert action.thread is not None
        threads = list(proc.threads)
        threads[action.thread] = threads[action.thread]._replace(life=rule.dst)
        return system.update(action.pid, threads=tuple(threads))

    def _observe(self, rule: Rule, system: System, action: Action) -> str:
        """The caller's view as a canonical string, the same the runtime produces."""
        if rule.outcome.raises:
            kind, message = rule.outcome.raises
            return f"{kind}: {message}"
        value = rule.outcome.returns
        if value is None:
            return "ack"
        if value == "exitcode":
            return repr(system.procs[action.pid].exitcode)
        if value == "int":
            return "<int>"
        return value

    # --- which actions may be taken ------------------------------------------------------

    def actor(self, system: System, pid: int, by: str) -> bool:
        """Can process ``pid`` act for an event ``by`` it (see ``By``): some thread of it may."""
        return by not in NEEDS_ACTOR or acting_thread(system, pid, by) is not None

    def candidates(self, system: System, bounds: Bounds | None = None,
                   skip: frozenset[str] = frozenset(), applicable: bool = False) -> Iterator[Action]:
        """Every action of a non-internal event not in ``skip``, with every argument from its domain.

        ``applicable`` leaves out an action whose component is in no state a rule of its event
        fires from (``fire`` would give it no outcome): the explorer's successors, found faster.
        """
        bounds = bounds or Bounds()
        everywhere: frozenset[str] | None = None
        for event in self.spec.events:
            if event.actor == "internal" or event.name in skip:
                continue
            sources = self._sources.get((event.machine, event.name), frozenset()) if applicable else everywhere
            if sources is not None and not sources:
                continue
            args: Iterable[object] = event.domains[0] if event.domains else (NO_ARG,)
            for pid, proc in enumerate(system.procs):
                if event.machine == "handle":
                    if pid == MAIN or proc.orphan or proc.parent is None:
                        continue
                    if sources is not None and proc.handle not in sources:
                        continue
                    if not self.actor(system, proc.parent, event.by):
                        continue
                    targets: Iterable[int | None] = (None,)
                elif event.machine == "process":
                    if sources is not None and proc.life not in sources:
                        continue
                    if not self._may_grow(system, pid, event.name, bounds):
                        continue
                    if not self.actor(system, pid, event.by):
                        continue
                    targets = (None,)
                else:
                    if event.by != "none" and not (threads_act(proc) and self.actor(system, pid, event.by)):
                        continue
                    targets = range(len(proc.threads)) if sources is None else [
                        i for i, t in enumerate(proc.threads) if t.life in sources]
                for thread, arg in product(targets, args):
                    yield Action(event.name, pid, thread, arg)

    def _may_grow(self, system: System, pid: int, event: str, bounds: Bounds) -> bool:
        if event == "create_child":
            depth = 0
            parent: int | None = pid
            while parent is not None:
                depth += 1
                parent = system.procs[parent].parent
            return len(system.procs) - 1 < bounds.procs and depth <= bounds.depth
        if event in THREAD_MAKERS:
            return len(system.procs[pid].threads) < bounds.threads
        return True

    def enabled(self, system: System, bounds: Bounds | None = None) -> list[tuple[Action, tuple[Transition, ...]]]:
        """The actions some rule allows here, each with its outcomes (before settling)."""
        out = []
        for action in self.candidates(system, bounds):
            transitions = self.fire(system, action)
            if transitions:
                out.append((action, transitions))
        return out

    # --- what happens by itself -----------------------------------------------------

    def internal_steps(self, system: System, cached: bool = True) -> list[tuple[Action, Transition]]:
        """Internal events that can happen now: only a process that is exiting or a zombie has any,
        or one its parent's exit sequence has still to join (its handle's exit_join).
        ``cached=False`` for a caller that asks once per system (the explorer)."""
        fire = self.fire if cached else self._fire
        out = []
        for pid, proc in enumerate(system.procs):
            if proc.life.startswith(("running", "new", REAPED)) and not proc.awaited:
                continue
            for event in self._internal:
                action = Action(event, pid)
                for t in fire(system, action):
                    out.append((action, t))
        return out

    def _settle(self, system: System) -> dict[System, tuple[str, ...]]:
        """Every quiescent system the internal events can reach, with the rules on the way."""
        done: dict[System, tuple[str, ...]] = {}
        seen = {system}
        todo = [(system, ())]  # type: list[tuple[System, tuple[str, ...]]]
        while todo:
            current, rules = todo.pop()
            steps = self.internal_steps(current)
            if not steps:
                done.setdefault(current, rules)
            for _action, t in steps:
                if t.system not in seen:
                    seen.add(t.system)
                    todo.append((t.system, rules + t.rules))
        return done

    def predict(self, system: System, action: Action) -> list[Transition]:
        """The allowed outcomes of an action once everything it sets off has happened."""
        out = []
        for t in self.fire(system, action):
            for settled, more in self.settle(t.system).items():
                out.append(Transition(t.rules + more, t.observed, settled))
        return out
