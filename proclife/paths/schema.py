"""The JSON Schema of a path file, derived from a model's events: the loader checks every path with it.

``proclife/schemas/path.schema.json`` is the base model's, committed and shipped; a model with
extensions gets its own, made the same way (its events, its arguments). ``python -m
proclife.paths.schema`` rewrites the committed file; a test checks it is today's.
"""

from __future__ import annotations

import json
from pathlib import Path

from proclife.model.core.spec import NEEDS_ACTOR, EventDef, Spec

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "path.schema.json"
# Keys a step may carry that the loader ignores: what explore and conform wrote beside it.
INFORMATIONAL = ("rules", "observed")


def arg_schema(event: EventDef) -> dict[str, object]:
    """The values an event's argument takes, from its domain: booleans, names, integers, or any JSON value."""
    domain = event.domains[0] if event.domains else ()
    if domain and all(isinstance(v, bool) for v in domain):
        return {"type": "boolean"}
    if domain and all(isinstance(v, bool) or v is None for v in domain):
        return {"type": ["boolean", "null"]}  # daemon=: None leaves the argument out
    if domain and all(isinstance(v, str) for v in domain):
        return {"enum": list(domain)}
    if domain and all(isinstance(v, int) and not isinstance(v, bool) for v in domain):
        return {"type": "integer"}
    return {"description": "any JSON value: null, a boolean, a number, a string, a list or an object"}


def _event_rule(event: EventDef) -> dict[str, object]:
    then: dict[str, object] = {}
    required: list[str] = []
    properties: dict[str, object] = {}
    forbidden: list[dict[str, object]] = []
    if event.params:
        required.append("arg")
        properties["arg"] = arg_schema(event)
    else:
        forbidden.append({"required": ["arg"]})
    if event.machine == "thread":
        required.append("thread")
    else:
        forbidden.append({"required": ["thread"]})
    if event.by not in NEEDS_ACTOR:
        forbidden.append({"required": ["actor"]})
    if required:
        then["required"] = required
    if properties:
        then["properties"] = properties
    if forbidden:
        then["not"] = {"anyOf": forbidden}
    return {"if": {"properties": {"event": {"const": event.name}}, "required": ["event"]}, "then": then}


def path_schema(spec: Spec) -> dict[str, object]:
    """The schema of a path file for the model ``spec``: a list of steps, or a file that holds one."""
    drivable = spec.events  # internal ones (explore writes them) are skipped: they happen by themselves
    step = {
        "type": "object",
        "description": "one action: an event aimed at process `pid` (and thread `thread`), performed by `actor`",
        "required": ["event", "pid"],
        "properties": {
            "event": {"enum": [e.name for e in drivable], "description": "an event `proclife model` lists"},
            "pid": {"type": "integer", "minimum": 0,
                    "description": "the model pid: 0 the main program, then 1, 2, ... in creation order "
                                   "(create_child); a handle call names the child whose handle it uses"},
            "thread": {"type": "integer", "minimum": 0,
                       "description": "a thread event's thread: its index in process `pid`, in creation order"},
            "actor": {"anyOf": [{"const": "main"}, {"type": "integer", "minimum": 0}],
                      "description": "the thread that acts, in the acting process (the parent, for a handle "
                                     "call): 'main' or a thread index; absent, the main thread if runnable, "
                                     "else the first runnable thread"},
            "arg": {"description": "the event's argument; which values, see the rule of each event"},
            **{k: {"description": "written by explore or conform; ignored"} for k in INFORMATIONAL},
        },
        "additionalProperties": False,
        "allOf": [_event_rule(e) for e in drivable],
    }
    steps = {"type": "array", "items": {"$ref": "#/$defs/step"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"proclife path ({spec.name} model)",
        "description": "A path: the actions replay performs and predict walks, in order (docs/path-schema.md).",
        "anyOf": [
            {"$ref": "#/$defs/steps"},
            {"type": "object", "required": ["violations"], "description": "explore --json: each violation's path",
             "properties": {"violations": {"type": "array", "items": {
                 "type": "object", "required": ["path"], "properties": {"path": {"$ref": "#/$defs/steps"}}}}}},
            {"type": "object", "required": ["reports"], "description": "conform --json: a disagreement's trace",
             "properties": {"reports": {"type": "array", "items": {"type": "object", "properties": {
                 "disagreements": {"type": "array", "items": {
                     "type": "object", "required": ["trace", "action"],
                     "properties": {"trace": {"$ref": "#/$defs/steps"}, "action": {"$ref": "#/$defs/step"}}}}}}}}},
        ],
        "$defs": {"steps": steps, "step": step},
    }


def committed_text() -> str:
    """The committed file's text, as the base model makes it today."""
    from proclife.model.core.base import BASE

    return json.dumps(path_schema(BASE), indent=2) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(committed_text())
    print(f"wrote {SCHEMA_FILE}")
