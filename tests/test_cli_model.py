"""`proclife model`: the listing and the JSON name every state, event and rule with its source."""

from __future__ import annotations

import json

from click.testing import CliRunner

from proclife.cli import main
from proclife.model.core.base import BASE


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_json_names_the_life_cycle_states_and_every_rule_has_a_source() -> None:
    result = run("model", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "proclife.model/1"
    names = {s["name"].rpartition(".")[2] for m in data["machines"].values() for s in m["states"]}
    assert {"new", "running", "blocked", "exiting", "terminated", "closed"} <= names
    assert len(data["rules"]) == len(BASE.rules)
    for rule in data["rules"]:
        assert rule["source"]["kind"] and rule["source"]["ref"], rule["id"]
    assert {e["name"] for e in data["events"]} == {e.name for e in BASE.events}


def test_json_keeps_nesting_and_outcomes() -> None:
    data = json.loads(run("model", "--json").stdout)
    parents = {s["name"]: s["parent"] for s in data["machines"]["process"]["states"]}
    assert parents["running.blocked"] == "running" and parents["running"] is None
    rule = next(r for r in data["rules"] if r["id"] == "handle.start_twice")
    assert rule["outcome"]["raises"] == {"type": "AssertionError", "message": "cannot start a process twice"}
    assert rule["dst"] is None


def test_listing_shows_every_rule_id_and_model_only_events() -> None:
    result = run("model")
    assert result.exit_code == 0
    for rule in BASE.rules:
        assert f"{rule.id}:" in result.stdout
    proceed = next(line for line in result.stdout.splitlines() if line.strip().startswith("proceed "))
    assert "model-only" in proceed and "internal" in proceed


def test_bad_extension_exits_2_with_one_line() -> None:
    result = run("model", "--extend", "no_such_module_xyz:EXT")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_such_module_xyz" in lines[0]
    assert result.stdout == ""


def test_malformed_extend_argument_says_how_to_write_it() -> None:
    result = run("model", "--json", "--extend", "nocolon")
    assert result.exit_code == 2
    assert "module:attribute" in result.stderr
