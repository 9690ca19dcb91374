"""The transitions machines are derived from the spec: every rule is offered where it says."""

from __future__ import annotations

import pytest

from proclife.model.core.errors import ModelError
from proclife.model.core.extend import base_model
from proclife.model.core.machines import build_machine, source_leaves
from proclife.model.core.spec import MACHINES

MODEL = base_model()
MACHINE = {name: build_machine(MODEL, name) for name in MACHINES}


def own_guards(when: tuple[str, ...]) -> dict[str, bool]:
    """The guard values under which a rule's own conditions hold."""
    return {g.lstrip("!"): not g.startswith("!") for g in when}


@pytest.mark.parametrize("rule", MODEL.spec.rules, ids=lambda r: r.id)
def test_every_rule_is_offered_in_each_source_leaf_and_lands_in_its_dst(rule) -> None:
    machine = MACHINE[rule.machine]
    leaves = source_leaves(MODEL.spec, rule)
    assert leaves, f"{rule.id} has no source leaf"
    for leaf in leaves:
        machine.set_state(leaf)
        assert rule.event in machine.get_triggers(leaf), (rule.id, leaf)
        fired = machine.trigger(rule.event, rule=rule.id, guards=own_guards(rule.when))
        assert fired, (rule.id, leaf)
        assert machine.state == (rule.dst or leaf), (rule.id, leaf)


def test_states_are_the_specs_states() -> None:
    for name in MACHINES:
        declared = [s.name for s in MODEL.spec.states_of(name)]
        assert sorted(MACHINE[name].get_nested_state_names()) == sorted(declared)


def test_a_guard_that_fails_blocks_the_rule() -> None:
    machine = build_machine(MODEL, "handle")
    machine.set_state("initial")
    assert not machine.trigger("start", rule="handle.start", guards={"parent_daemonic": True})
    assert machine.state == "initial"


def test_no_event_is_offered_where_no_rule_starts() -> None:
    spec = MODEL.spec
    for name in MACHINES:
        for leaf in spec.leaves(name):
            expected = {r.event for r in spec.rules_of(name) if leaf in source_leaves(spec, r)}
            assert set(MACHINE[name].get_triggers(leaf)) == expected, (name, leaf)


def test_a_guard_without_a_value_is_an_error_that_says_what_to_pass() -> None:
    machine = build_machine(MODEL, "handle")
    with pytest.raises(ModelError, match="guards="):
        machine.trigger("start")


def test_unknown_machine_is_refused() -> None:
    with pytest.raises(ModelError, match="no machine"):
        build_machine(MODEL, "kernel")
