"""The trace JSON's schema (``proclife/schemas/trace.schema.json``) and reading a trace file back."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from proclife.trace.errors import TraceUsageError

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "trace.schema.json"


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def problems(doc: object) -> list[str]:
    """Each way ``doc`` breaks the schema, as ``where: what`` (empty: it is a trace)."""
    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'/'.join(str(p) for p in error.absolute_path) or 'top level'}: {error.message}"
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def read_trace(path: Path) -> dict[str, Any]:
    """A trace file, validated; a file that is not one is a usage error naming the first problem."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise TraceUsageError(f"--check {path}: {exc.strerror or exc}; name a trace written by proclife trace --json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TraceUsageError(f"--check {path}: not JSON ({exc}); name a trace written by proclife trace --json") from None
    found = problems(doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise TraceUsageError(f"--check {path}: not a proclife trace ({found[0]}{more}); name a trace written by "
                              "proclife trace --json")
    assert isinstance(doc, dict)
    return doc
