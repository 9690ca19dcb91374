"""The model's own progress, as a trace meets it: every state its internal events reach, not only the last.

The engine's ``predict`` settles an action's effects until nothing more happens by itself, which
is what a conformance driver waits for. A trace does not wait: a real process is somewhere in its
exit sequence when a signal finds it (a Pool's worker SIGTERMed while in ``threading._shutdown``).
So the decision keeps every state the internal events reach after an action, and the trace's
exit steps prune them: an exit step that returned puts its process past that phase of the
model, in the order the model's ``proceed`` rules give for that process.
"""

from __future__ import annotations

from proclife.model.core.engine import Engine
from proclife.model.core.lives import JOIN_CHILDREN, JOIN_THREADS, TERMINATE_DAEMONS, is_terminated
from proclife.model.core.semantics import CONFIG_ONLY, Action, Ctx
from proclife.model.core.system import MAIN, System
from proclife.trace.steps import Check

# The phase each check's fact ends: an exit step that returned, the exit function's joins begun.
PHASE = {"threads_joined": JOIN_THREADS, "children_joined": JOIN_CHILDREN, "joining_children": TERMINATE_DAEMONS}
PROCEED = "proceed"  # the model's internal event that moves a process through its exit sequence


def reach(engine: Engine, system: System, rules: tuple[str, ...]) -> dict[System, tuple[str, ...]]:
    """``system`` and every state the internal events reach from it, each with the rules on the way."""
    found = {system: rules}
    todo = [system]
    while todo:
        current = todo.pop()
        for _action, t in engine.internal_steps(current):
            if t.system not in found:
                found[t.system] = found[current] + t.rules
                todo.append(t.system)
    return found


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
        return is_terminated(proc.life) or proc.life in self.past(PHASE[check.kind], system, check.pid)
