"""Reading a path file: its steps as actions, checked against the model's path schema.

A file that does not fit is refused in one line that names the step and the fix (exit 2,
``ModelError``): the schema says what fits, this module says it in words.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from proclife.model.core.errors import ModelError
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Spec
from proclife.paths.schema import INFORMATIONAL, arg_schema, path_schema

KEYS = ("event", "pid", "thread", "actor", "arg")
FIX = {
    "event": "give an event name (`proclife model` lists them)",
    "pid": "give a pid number (0 the main program, then 1, 2, ... in creation order)",
    "thread": "give a thread number (0, 1, ... in creation order within the process)",
    "actor": "give 'main' or a thread number of the acting process, or leave it out",
}


def read_path(path: Path, which: int, spec: Spec) -> list[Action]:
    """Actions from a JSON list, an ``explore --json`` violation, or a ``conform --json`` disagreement."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ModelError(f"{path} is not JSON ({exc}); write a list of {{event, pid, thread?, arg?}} objects") from None
    steps: object = data
    if isinstance(data, dict) and "violations" in data:
        found = data["violations"]
        if not found:
            raise ModelError(f"{path} has no violation to replay (the exploration held)")
        steps = found[min(which, len(found) - 1)].get("path")
    elif isinstance(data, dict) and "reports" in data:
        found = [d for r in data["reports"] for d in r.get("disagreements", [])]
        if not found:
            raise ModelError(f"{path} has no disagreement to replay")
        chosen = found[min(which, len(found) - 1)]
        steps = [*chosen.get("trace", []), chosen.get("action")]
    check_steps(path, steps, spec)
    return [Action.from_json(s) for s in steps]  # type: ignore[attr-defined]  # check_steps: a list of dicts


def check_steps(path: Path, steps: object, spec: Spec) -> None:
    """Refuse steps the path schema of ``spec`` does not allow, naming the first bad step."""
    schema = path_schema(spec)
    validator = Draft202012Validator({"$ref": "#/$defs/steps", "$defs": schema["$defs"]})
    errors = sorted(validator.iter_errors(steps), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "event" in s and "pid" in s for s in steps):
        raise ModelError(f"{path}: expected a list of steps, each with 'event' and 'pid'")
    error = errors[0]
    number = int(error.absolute_path[0]) + 1 if error.absolute_path else 1
    raise ModelError(f"{path}: step {number}: {_explain(steps[number - 1], error, spec)}")


def _explain(step: dict[str, Any], error: ValidationError, spec: Spec) -> str:
    """One schema error of a step in words, with the fix."""
    event = step.get("event")
    where = tuple(error.absolute_path)[1:]
    if where and where[0] in FIX:
        key = str(where[0])
        return f"{key!r} is {step.get(key)!r}; {FIX[key]}"
    if error.validator == "additionalProperties":
        extra = sorted(set(step) - set(KEYS) - set(INFORMATIONAL))
        return f"unknown key {', '.join(map(repr, extra))}; a step has {', '.join(KEYS)}"
    try:
        known = spec.event(str(event))
    except (KeyError, ValueError, LookupError):
        return f"'event' is {event!r}; {FIX['event']}"
    if where and where[0] == "arg":
        return (f"{event}: argument {step['arg']!r} is not one it takes; give {_values(arg_schema(known))}")
    if "arg" not in step and known.params:
        return f"{event} needs its argument {known.params[0]!r}: add \"arg\": {_values(arg_schema(known))}"
    if known.machine == "thread" and "thread" not in step:
        return f"{event} is a thread event: add \"thread\", the thread's index in P{step.get('pid')}"
    if "arg" in step and not known.params:
        return f"{event} takes no argument; drop 'arg'"
    if "thread" in step and known.machine != "thread":
        return f"{event} is not a thread event; drop 'thread' (a handle call names its child by 'pid')"
    if "actor" in step:
        return f"{event} leaves no choice of acting thread (by={known.by}); drop 'actor'"
    return error.message


def _values(schema: dict[str, object]) -> str:
    if schema.get("type") == "boolean":
        return "true or false"
    if "enum" in schema:
        return " or ".join(json.dumps(v) for v in schema["enum"])  # type: ignore[attr-defined]
    if schema.get("type") == "integer":
        return "an integer"
    return "any JSON value"
