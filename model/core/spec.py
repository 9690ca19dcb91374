"""The vocabulary of the model: states, events, rules and where each rule comes from.

Everything downstream (machines, diagrams, exploration, conformance) reads these records;
nothing restates them. A spec is plain frozen data so that it can be merged, compared,
printed as JSON and validated before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

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


By = Literal["main", "any", "self", "control", "none"]
"""Who acts for an event, as seen from the process it aims at.

``main``: its main thread, which must be runnable. ``any``: its main thread if runnable, else
another runnable thread of it. ``self``: the thread the action names (its rules say in which
states). ``control``: a thread the model does not track acts on the named thread or the main
thread, whatever they are doing (a release; the end of a thread's run() awaited from beside
it). ``none``: no thread of the process (a signal from outside, or the model's own progress).
"""

BY_VALUES: tuple[str, ...] = get_args(By)
# The values of ``by`` that need a runnable thread of the process before the event is offered.
NEEDS_ACTOR: frozenset[str] = frozenset({"main", "any"})


# The process events that add a thread to the process (bounded by ``Bounds.threads``).
THREAD_MAKERS: frozenset[str] = frozenset({"create_thread", "queue_put"})


DriveKind = Literal["call", "signal", "end", "op"]
DRIVE_KINDS: tuple[str, ...] = get_args(DriveKind)


@dataclass(frozen=True)
class Drive:
    """How an event is performed on a real process: stated here once, derived everywhere else.

    ``how`` is ``call`` (a Process API call on the target's handle, made in its parent;
    ``name`` is the method or property), ``signal`` (sent to the target from outside; ``name``
    as the signal module spells it, ``SIGTERM``), ``end`` (the target's main thread leaves its
    target this way; ``name`` is the way), or ``op`` (an operation of the agent inside the
    process; ``name`` is the operation). ``ends`` says the process it aims at may end after it.
    """

    how: DriveKind
    name: str
    ends: bool = False

    @property
    def op(self) -> str:
        """The operation the agent is asked for (``signal``: none, the driver sends it itself)."""
        return self.name if self.how == "op" else self.how

    def __str__(self) -> str:
        return self.op if self.how in ("op", "end") else f"{self.how} {self.name}"


@dataclass(frozen=True)
class EventDef:
    """Something that can happen to a component.

    ``drive`` says how the runtime makes it happen on real processes; ``None`` marks the
    event model-only (internal progress, or an extension's idea with no driver yet). ``by``
    says who acts (see ``By``). ``params`` lists the parameter names; ``domains`` gives the
    finite values the explorer and the conformance generator draw from for each.
    """

    name: str
    machine: str
    actor: Actor
    doc: str
    drive: Drive | None = None
    params: tuple[str, ...] = ()
    domains: tuple[tuple[object, ...], ...] = ()
    by: By = "any"


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
