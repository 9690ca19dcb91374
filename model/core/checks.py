"""The kinds of check the engines make, as data: invariants, bounded liveness, findings, fairness.

They live below the engines so that an extension can declare its own (``Extension.invariants``,
``findings``, ``fairness``) beside its rules; the base model's checks are in
``model/explore/invariants.py``. Each check carries its source, so that a violation reads as
"the model disagrees with X", and may carry its Promela form (``promela``), which SPIN needs:
the explorer runs a check without one, ``--check spin`` refuses it and says so.

The Promela forms are functions of the generator ``g`` (``proclife.model.spin.promela.Gen``;
docs/extending.md lists what it offers) that return a Promela boolean expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proclife.model.core.engine import Transition
from proclife.model.core.semantics import Action
from proclife.model.core.spec import EventDef, Spec
from proclife.model.core.system import Config, System

PromelaForm = Callable[..., str]
"""A check's or a guard's or an effect's Promela text; how it is called depends on what it is for."""


@dataclass(frozen=True)
class StateInvariant:
    """A predicate every reachable system satisfies. ``promela(g)``: the same over SPIN's state."""

    name: str
    source: str
    doc: str
    holds: Callable[[System], bool]
    promela: PromelaForm | None = None


@dataclass(frozen=True)
class StepForm:
    """A step invariant in Promela: ``assert(!binds || before)``, ``before`` computed before the step.

    ``applies(rule)`` picks the rules it is checked on; ``before(g, rule, where)`` and
    ``binds(g, rule, where)`` are Promela expressions.
    """

    applies: Callable[..., bool]
    before: PromelaForm
    binds: PromelaForm


@dataclass(frozen=True)
class StepInvariant:
    """A predicate over one transition: the system before, the action, the outcome."""

    name: str
    source: str
    doc: str
    holds: Callable[[System, Action, Transition], bool]
    promela: StepForm | None = None


@dataclass(frozen=True)
class Liveness:
    """Every maximal run of the events ``moves`` picks and internal steps ends where ``goal`` holds.

    ``fair`` names environment events assumed to happen eventually wherever they can (an
    extension's ``Fairness``): they count as moves too. ``promela(g)`` is the goal in Promela.
    """

    name: str
    source: str
    doc: str
    goal: Callable[[System], bool]
    moves: Callable[[EventDef], bool]
    promela: PromelaForm | None = None
    fair: frozenset[str] = frozenset()

    def events(self, spec: Spec) -> frozenset[str]:
        """The events whose edges count: those ``moves`` picks, the fair ones and every internal one."""
        return frozenset(e.name for e in spec.events if self.moves(e) or e.actor == "internal" or e.name in self.fair)


@dataclass(frozen=True)
class Finding:
    """What real Python does that breaks ``invariant``: reported as a finding, not a violation.

    ``matches(system, pid, config)`` sees the system before the broken step and the process
    that step acted on (``pid`` is None for a state no program action can leave).
    ``promela(g, pid)`` is the same in Promela (``pid`` None: any process).
    """

    name: str
    invariant: str
    source: str
    explanation: str
    matches: Callable[[System, int | None, Config], bool]
    promela: PromelaForm | None = None


@dataclass(frozen=True)
class Fairness:
    """An assumption that ``event`` happens eventually wherever it can, for the liveness check ``liveness``.

    Without it, a state only that event leaves (a process stopped by SIGSTOP) is a dead end
    the liveness check reports; with it, the event counts as a move, as a target's end does.
    ``why`` says who is assumed to act: an assumption is part of what a verdict claims.
    """

    event: str
    liveness: str
    why: str
