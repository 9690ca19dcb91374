"""``proclife model``: the model as a reader or a program wants it (a listing, or JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from proclife.model.core.export import model_data
from proclife.model.core.extend import Model, load
from proclife.model.core.spec import MACHINES, Spec
from proclife.model.diagrams.labels import rule_text
from proclife.readme import rules_markdown, update


def state_lines(spec: Spec, machine: str) -> list[str]:
    out = []
    for state in spec.states_of(machine):
        depth = state.name.count(".")
        mark = " (initial)" if state.name == spec.initial[machine] else ""
        out.append(f"    {'  ' * depth}{state.name.rpartition('.')[2]}{mark}: {state.doc}")
    return out


def event_lines(spec: Spec, machine: str) -> list[str]:
    out = []
    for event in spec.events_of(machine):
        drive = f"drive={event.drive}" if event.drive else "model-only"
        params = f"({', '.join(event.params)})" if event.params else ""
        out.append(f"    {event.name + params:<24} {event.actor:<12} {drive:<24} {event.doc}")
    return out


def rule_lines(spec: Spec, machine: str) -> list[str]:
    out = []
    for rule in spec.rules_of(machine):
        move = f"{' | '.join(rule.src)} -> {rule.dst or '(stays)'}"
        out.append(f"    {rule.id}: {move}: {rule_text(rule, spec.event(rule.event).params)}")
        out.append(f"        source: {rule.source}")
    return out


def listing(model: Model) -> str:
    spec = model.spec
    lines = [f"model {spec.name} v{spec.version}; extensions: {', '.join(model.extensions) or 'none'}"]
    for machine in MACHINES:
        lines += ["", f"{machine} machine", "  states", *state_lines(spec, machine)]
        lines += ["  events (name, actor, how the runtime drives it)", *event_lines(spec, machine)]
        lines += ["  rules", *rule_lines(spec, machine)]
    if spec.notes:
        lines += ["", "notes"] + [f"  - {note}" for note in spec.notes]
    return "\n".join(lines)


@click.command("model")
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON (schema proclife.model/1).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print the rules as Markdown tables (the block README.md embeds).")
@click.option("--update-readme", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Rewrite the generated rules block of this README file.")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR",
              help="Apply an extension before printing; repeat to apply several in order.")
def command(as_json: bool, as_markdown: bool, update_readme: Path | None, extend: tuple[str, ...]) -> None:
    """List the model's states, events and rules, each rule with its source."""
    model = load(extend)
    if update_readme is not None:
        changed = update(update_readme, model)
        click.echo(f"{update_readme}: {'updated' if changed else 'already up to date'}")
    elif as_markdown:
        click.echo(rules_markdown(model))
    elif as_json:
        click.echo(json.dumps(model_data(model), indent=2, ensure_ascii=False))
    else:
        click.echo(listing(model))
