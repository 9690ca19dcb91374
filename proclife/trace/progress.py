"""The model's own progress, as a trace meets it: every state its internal events reach, not only the last.

The engine's ``predict`` settles an action's effects until nothing more happens by itself, which
is what a conformance driver waits for. A trace does not wait: a real process is somewhere in its
exit sequence when a signal finds it (a Pool's worker SIGTERMed while in ``threading._shutdown``).
So before each step the decision lets the internal events of the processes that step concerns
take any number of steps (none, some, all), and the trace's exit steps prune the states: an exit
step that returned puts its process past that phase of the model, in the order the model's
``proceed`` rules give for that process.
"""

from __future__ import annotations

from proclife.model.core.engine import Engine
from proclife.model.core.lives import (
    JOIN_CHILDREN,
    JOIN_THREADS,
    RUN_FINALIZERS,
    TERMINATE_DAEMONS,
    is_terminated,
)
from proclife.model.core.semantics import CONFIG_ONLY, Action, Ctx
from proclife.model.core.system import MAIN, System
from proclife.trace.steps import Check, Step

# The phases each check's fact ends: an exit step that returned (the exit function: its children joins
# and its finalizers), the exit function's joins begun.
PHASES = {"threads_joined": (JOIN_THREADS,), "children_joined": (JOIN_CHILDREN, RUN_FINALIZERS),
          "joining_children": (TERMINATE_DAEMONS,), "joining_feeder": (JOIN_CHILDREN,)}
PROCEED = "proceed"  # the model's internal event that moves a process through its exit sequence


class Progress:
    """The internal events of chosen processes, taken any number of times from a state.

    Which events are internal, and from which states of a process or handle their rules start,
    is read from the spec once, so that a process none of them can move (running, reaped) costs
    no call of the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The internal events the engine's internal_steps offers ("launch" is start()'s own).
        self.events = [e for e in engine.spec.events if e.actor == "internal" and e.name != "launch"]
        self.sources: dict[str, frozenset[str]] = {}
        for event in self.events:
            self.sources[event.name] = frozenset(leaf for rule in engine.spec.rules if rule.event == event.name
                                                 for src in rule.src for leaf in engine.spec.expand(rule.machine, src))

    def _may_move(self, system: System, pid: int, event: str, machine: str) -> bool:
        proc = system.procs[pid]
        return (proc.handle if machine == "handle" else proc.life) in self.sources[event]

    def reach(self, system: System, rules: tuple[str, ...], pids: frozenset[int]) -> dict[System, tuple[str, ...]]:
        """``system`` and every state the internal events of processes ``pids`` reach from it, each with
        the rules on the way. Only those: the progress of the others waits for a step about them (it
        commutes with this one), so processes in their exit sequences at once do not multiply states."""
        found = {system: rules}
        todo = [system]
        while todo:
            current = todo.pop()
            for pid in pids:
                for event in self.events:
                    if not self._may_move(current, pid, event.name, event.machine):
                        continue
                    for t in self.engine.fire(current, Action(event.name, pid)):
                        if t.system not in found:
                            found[t.system] = found[current] + t.rules
                            todo.append(t.system)
        return found


def _descendants(system: System, pid: int) -> set[int]:
    """``pid``'s descendants, in one pass over the processes (a child comes after its parent)."""
    out: set[int] = set()
    for index, proc in enumerate(system.procs):
        if proc.parent is not None and (proc.parent == pid or proc.parent in out):
            out.add(index)
    return out


def concerned(engine: Engine, system: System, step: Step) -> frozenset[int]:
    """The processes whose own progress a step may need: for an event of a process or of one of its
    threads, that process (its state says whether the event may happen); for a handle call (join,
    terminate, ...) or a check, the process it names and its descendants, because a process's exit
    waits for its children and a join or an exit code needs that exit (not the exit function's
    joins begun: its SIGTERMs come before any join). The progress of the others (a sibling's end
    that start() would poll) can wait: the steps about them take it."""
    if step.check is not None:
        pid = step.check.pid
        if step.check.kind == "joining_children":  # SIGTERM to the daemonic children: before any join
            return frozenset({pid})
    else:
        assert step.action is not None
        pid = step.action.pid
        if engine.event(step.action.event).machine != "handle":
            return frozenset({pid})
    if pid >= len(system.procs):
        return frozenset()
    return frozenset({pid, *_descendants(system, pid)})


class Phases:
    """Which lives follow an exit phase, per kind of process (main program or child), from the
    ``proceed`` rules whose configuration guards hold for it; computed once per kind."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._past: dict[tuple[bool, str], frozenset[str]] = {}

    def _config_holds(self, system: System, pid: int, guards: tuple[str, ...]) -> bool:
        ctx = Ctx(self.engine.config, Action(PROCEED, pid), self.engine)
        return all(self.engine.semantics.guards[g.lstrip("!")](system, ctx) != g.startswith("!")
                   for g in guards if g.lstrip("!") in CONFIG_ONLY)

    def past(self, phase: str, system: System, pid: int) -> frozenset[str]:
        """The lives after ``phase`` for process ``pid``: where the ``proceed`` rules lead from it."""
        key = (pid == MAIN, phase)
        if key not in self._past:
            out: set[str] = set()
            todo = [phase]
            while todo:
                life = todo.pop()
                for rule in self.engine.spec.rules:
                    if rule.event != PROCEED or rule.dst is None or rule.dst in out:
                        continue
                    if any(life in self.engine.spec.expand(rule.machine, s) for s in rule.src) \
                            and self._config_holds(system, pid, rule.when):
                        out.add(rule.dst)
                        todo.append(rule.dst)
            out.discard(phase)
            self._past[key] = frozenset(out)
        return self._past[key]

    def holds(self, check: Check, system: System) -> bool:
        """Whether ``system`` meets ``check``: an exit code learned, or an exit step that returned."""
        if check.pid >= len(system.procs):
            return False
        proc = system.procs[check.pid]
        if check.kind == "exitcode":
            return is_terminated(proc.life) and proc.exitcode == check.value
        return is_terminated(proc.life) or all(proc.life in self.past(phase, system, check.pid)
                                                for phase in PHASES[check.kind])
