"""The vocabulary of the model: states, events, rules and where each rule comes from.

Everything downstream (machines, diagrams, exploration, conformance) reads these records;
nothing restates them. A spec is plain frozen data so that it can be merged, compared,
printed as JSON and validated before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Actor = Literal["program", "environment", "internal"]
MACHINES: tuple[str, ...] = ("handle", "process", "thread")


@dataclass(frozen=True)
class Source:
    """Where a rule comes from: a CPython function (with version) or an experiment."""

    ref: str
    kind: Literal["cpython", "experiment", "extension", "kernel"] = "cpython"

    def __str__(self) -> str:
        return f"{self.kind}: {self.ref}"


@dataclass(frozen=True)
class StateDef:
    """One state of one machine; dotted names nest (``running.blocked``)."""

    machine: str
    name: str
    doc: str

    @property
    def parent(self) -> str | None:
        head, _, _ = self.name.rpartition(".")
        return head or None


@dataclass(frozen=True)
class EventDef:
    """Something that can happen to a component.

    ``drive`` names the runtime operation that makes it happen on real processes; ``None``
    marks the event model-only (internal progress, or an extension's idea with no driver yet).
    ``params`` lists the parameter names; ``domains`` gives the finite values the explorer
    and the conformance generator draw from for each.
    """

    name: str
    machine: str
    actor: Actor
    doc: str
    drive: str | None = None
    params: tuple[str, ...] = ()
    domains: tuple[tuple[object, ...], ...] = ()
    by: Literal["main", "any", "none"] = "any"


@dataclass(frozen=True)
class Outcome:
    """What the caller observes at once: a value (by name) or an exception (type, message)."""

    returns: str | None = None
    raises: tuple[str, str] | None = None

    def describe(self) -> str:
        if self.raises:
            return f"{self.raises[0]}({self.raises[1]!r})"
        return "" if self.returns is None else f"-> {self.returns}"


NOTHING = Outcome()


@dataclass(frozen=True)
class Rule:
    """A transition of one machine.

    ``src`` lists state names; a compound name matches each of its sub-states. ``dst`` of
    ``None`` keeps the state (an internal transition). ``when`` names guards that must all
    hold (``!name`` negates). ``effects`` name changes to the whole system, in order, as
    ``name`` or ``name:argument``.
    """

    id: str
    machine: str
    event: str
    src: tuple[str, ...]
    dst: str | None
    source: Source
    when: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    outcome: Outcome = NOTHING
    doc: str = ""

    def label(self) -> str:
        """A short edge label: event [guards] / observation."""
        text = self.event
        if self.when:
            text += " [" + ", ".join(self.when) + "]"
        shown = self.outcome.describe()
        if shown:
            text += " " + shown
        return text


@dataclass(frozen=True)
class Spec:
    """A whole model: the states, events and rules of every machine, in declaration order."""

    name: str
    version: str
    states: tuple[StateDef, ...]
    events: tuple[EventDef, ...]
    rules: tuple[Rule, ...]
    initial: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def states_of(self, machine: str) -> tuple[StateDef, ...]:
        return tuple(s for s in self.states if s.machine == machine)

    def events_of(self, machine: str) -> tuple[EventDef, ...]:
        return tuple(e for e in self.events if e.machine == machine)

    def rules_of(self, machine: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.machine == machine)

    def event(self, name: str) -> EventDef:
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(name)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def leaves(self, machine: str) -> tuple[str, ...]:
        """States with no sub-state: the ones a component can actually be in."""
        names = [s.name for s in self.states_of(machine)]
        return tuple(n for n in names if not any(o.startswith(n + ".") for o in names))

    def expand(self, machine: str, name: str) -> tuple[str, ...]:
        """The leaf states a (possibly compound) state name stands for."""
        return tuple(
            leaf for leaf in self.leaves(machine) if leaf == name or leaf.startswith(name + ".")
        )

    def with_changes(self, **changes: object) -> Spec:
        return replace(self, **changes)  # type: ignore[arg-type]
