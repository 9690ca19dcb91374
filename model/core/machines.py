"""One ``transitions`` HierarchicalMachine per machine of a model, derived from its spec.

The machines answer "in this state, which events are offered and where does each lead",
for tools that speak ``transitions``. Nothing here restates a state or a rule: states come
from the spec's dotted names, transitions one per rule, conditions from the named guards.

Firing a trigger takes keyword arguments: ``system`` and ``ctx`` let the guards look at a
whole system, ``guards`` (a name -> bool mapping) assumes their values instead, and
``rule`` picks one rule among the alternatives an event allows (the engine may offer several).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions.core import EventData
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import Semantics
from proclife.model.core.spec import MACHINES, Rule, Spec

SEPARATOR = "."  # the spec's own nesting separator; transitions' default "_" occurs inside names


class DottedState(NestedState):
    """A nested state whose path separator is the spec's dot."""

    separator = SEPARATOR


class SpecMachine(HierarchicalMachine):  # type: ignore[misc]
    """A HierarchicalMachine whose nested names are the spec's dotted names."""

    state_cls = DottedState


@dataclass(frozen=True)
class GuardCondition:
    """A rule's named guard (``!name`` negates), evaluated from the trigger's keyword arguments."""

    literal: str
    semantics: Semantics

    def __call__(self, event: EventData) -> bool:
        name = self.literal.lstrip("!")
        kwargs: dict[str, Any] = event.kwargs
        assumed: Mapping[str, bool] | None = kwargs.get("guards")
        if assumed is not None and name in assumed:
            value = bool(assumed[name])
        elif "system" in kwargs and "ctx" in kwargs:
            value = bool(self.semantics.guards[name](kwargs["system"], kwargs["ctx"]))
        else:
            msg = (f"guard {name!r} needs a value: pass system= and ctx=, "
                   f"or guards={{{name!r}: ...}} to the trigger")
            raise ModelError(msg)
        return value != self.literal.startswith("!")


@dataclass(frozen=True)
class RuleChoice:
    """Lets a caller pick one rule among the alternatives with ``rule=<id>``."""

    rule_id: str

    def __call__(self, event: EventData) -> bool:
        chosen = event.kwargs.get("rule")
        return chosen is None or chosen == self.rule_id


def state_tree(spec: Spec, machine: str) -> list[dict[str, Any]]:
    """The spec's dotted state names as the nested dicts transitions takes, in declaration order."""
    roots: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for state in spec.states_of(machine):
        node: dict[str, Any] = {"name": state.name.rpartition(SEPARATOR)[2], "children": []}
        by_name[state.name] = node
        siblings = roots if state.parent is None else by_name[state.parent]["children"]
        siblings.append(node)
    return roots


def source_leaves(spec: Spec, rule: Rule) -> list[str]:
    """The leaf states a rule may fire in (a compound source stands for each of its leaves)."""
    out: list[str] = []
    for name in rule.src:
        out.extend(leaf for leaf in spec.expand(rule.machine, name) if leaf not in out)
    return out


def build_machine(model: Model, machine_name: str) -> SpecMachine:
    """The machine ``machine_name`` of ``model`` as a HierarchicalMachine that is its own model."""
    spec = model.spec
    if machine_name not in MACHINES:
        msg = f"no machine {machine_name!r}; the model has {', '.join(MACHINES)}"
        raise ModelError(msg)
    machine = SpecMachine(
        states=state_tree(spec, machine_name),
        initial=spec.initial[machine_name],
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
        name=machine_name,
    )
    for rule in spec.rules_of(machine_name):
        conditions: list[str | Callable[..., bool | None]] = [RuleChoice(rule.id), *(GuardCondition(g, model.semantics) for g in rule.when)]
        machine.add_transition(
            rule.event, source_leaves(spec, rule), rule.dst, conditions=conditions
        )
    return machine
