"""Directed plans, cached on disk: the search is deterministic, so it is paid for once per model."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from proclife.conformance.runner import drivable
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.semantics import Action
from proclife.model.explore.plan import Plan, directed_plan

PLAN_FORMAT = "proclife.plan/2"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "proclife" / "plans"


def _key(engine: Engine, bounds: Bounds) -> str:
    text = repr((PLAN_FORMAT, engine.spec, engine.config, bounds))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def plan_for(engine: Engine, bounds: Bounds) -> Plan:
    """The directed plan for this model, start method and bounds (from the cache when there)."""
    path = cache_dir() / f"{_key(engine, bounds)}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text())
        return Plan(
            runs=[[Action.from_json(a) for a in run] for run in data["runs"]],
            covered=set(data["covered"]),
            unreachable=dict(data["unreachable"]),
            states_searched=int(data["states_searched"]),
        )
    plan = directed_plan(engine, bounds, drivable(engine))
    data = {
        "format": PLAN_FORMAT,
        "runs": [[a.as_json() for a in run] for run in plan.runs],
        "covered": sorted(plan.covered),
        "unreachable": plan.unreachable,
        "states_searched": plan.states_searched,
    }
    with contextlib.suppress(OSError):  # a read-only home only costs the search next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
    return plan
