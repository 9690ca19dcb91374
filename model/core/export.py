"""The model as plain JSON-able data (schema ``proclife.model/1``, see docs/model-schema.md).

Other tools (notebooks, other languages, a diff between two model versions) read this
instead of importing our classes; the schema name changes whenever a field changes meaning.
"""

from __future__ import annotations

from typing import Any

from proclife.model.core.extend import Model
from proclife.model.core.spec import MACHINES, EventDef, Outcome, Rule, Spec

SCHEMA = "proclife.model/1"


def outcome_data(outcome: Outcome) -> dict[str, Any] | None:
    """``None`` when the caller observes nothing in particular (an event, not a call)."""
    if outcome.raises:
        return {"returns": None, "raises": {"type": outcome.raises[0], "message": outcome.raises[1]}}
    if outcome.returns is None:
        return None
    return {"returns": outcome.returns, "raises": None}


def machine_data(spec: Spec, machine: str) -> dict[str, Any]:
    return {
        "initial": spec.initial[machine],
        "states": [{"name": s.name, "parent": s.parent, "doc": s.doc} for s in spec.states_of(machine)],
        "leaves": list(spec.leaves(machine)),
    }


def event_data(event: EventDef) -> dict[str, Any]:
    return {
        "name": event.name,
        "machine": event.machine,
        "actor": event.actor,
        "drive": None if event.drive is None else event.drive.op,
        "performed": None if event.drive is None else {"how": event.drive.how, "name": event.drive.name},
        "ends": event.drive is not None and event.drive.ends,
        "by": event.by,
        "params": list(event.params),
        "domains": [list(d) for d in event.domains],
        "doc": event.doc,
    }


def rule_data(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "machine": rule.machine,
        "event": rule.event,
        "src": list(rule.src),
        "dst": rule.dst,
        "when": list(rule.when),
        "effects": list(rule.effects),
        "outcome": outcome_data(rule.outcome),
        "source": {"kind": rule.source.kind, "ref": rule.source.ref},
        "doc": rule.doc,
    }


def model_data(model: Model) -> dict[str, Any]:
    """The whole model, every list in declaration order, so equal models give equal JSON."""
    spec = model.spec
    return {
        "schema": SCHEMA,
        "name": spec.name,
        "version": spec.version,
        "extensions": list(model.extensions),
        "machines": {m: machine_data(spec, m) for m in MACHINES},
        "events": [event_data(e) for e in spec.events],
        "rules": [rule_data(r) for r in spec.rules],
        "guards": sorted(model.semantics.guards),
        "effects": sorted(model.semantics.effects),
        "notes": list(spec.notes),
        "added_checks": [
            {"name": c.name, "kind": type(c).__name__, "source": c.source,
             "doc": getattr(c, "doc", getattr(c, "explanation", "")), "promela": c.promela is not None}
            for c in (*model.invariants, *model.liveness, *model.findings)
        ],
        "fairness": [{"event": f.event, "liveness": f.liveness, "why": f.why} for f in model.fairness],
        "scopes": [{"name": s.name, "doc": s.doc, "offers": list(s.offers), "args": {e: list(v) for e, v in s.args.items()}}
                   for s in model.scopes],
        "traits": [{"name": t.name, "doc": t.doc, "source": {"kind": t.source.kind, "ref": t.source.ref},
                    "values": t.table()} for t in model.traits],
        "promela_forms": {"guards": sorted(model.guard_forms), "effects": sorted(model.effect_forms)},
    }
