"""Write a standalone script that replays a disagreement with only the implementation under test.

The script embeds the agent (``proclife.runtime.agent`` and the stdlib-only modules it imports),
the in-process observer, the evidence checks with the event reader they fold events with, and the
exact commands the driver sent, so a maintainer can run it without proclife and see every fact
proclife compared: results, the OS view, exit statuses, dispositions, and each process's own
account of its life.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from proclife.conformance import evidence
from proclife.conformance.evidence import ModelView
from proclife.conformance.report import Disagreement
from proclife.model.core import lives
from proclife.model.core.spec import Spec
from proclife.model.core.system import System
from proclife.runtime import agent as agent_module
from proclife.runtime import events as events_module
from proclife.runtime.commands import command_for, drive_of, signal_number
from proclife.runtime.observe import expected_dispositions, expected_exitcodes, expected_os

AGENT_MODULES = ("__init__.py", "agent.py", "exitstatus.py", "impls.py", "protocol.py", "errors.py", "observer.py")
# Beside the agent, the evidence checks and what they import (standard library only), by module file
EVIDENCE_MODULES = {
    "proclife/runtime/events.py": events_module,
    "proclife/conformance/evidence.py": evidence,
    "proclife/model/core/lives.py": lives,
}
PACKAGES = ("proclife", "proclife/conformance", "proclife/model", "proclife/model/core")
TEMPLATE = Path(__file__).with_name("repro_template.py")


def steps_for(
    found: Disagreement, spec: Spec, engine_systems: list[System], join_timeout: float, bound: float
) -> list[dict[str, object]]:
    """The driver's exact commands for each step, with what the model allows after it."""
    out: list[dict[str, object]] = []
    records = [*found.trace, None]
    for seq, (record, before) in enumerate(zip(records, engine_systems, strict=True), 1):
        action = record.action if record else found.action
        event = spec.event(action.event)
        drive = drive_of(event, action)
        step: dict[str, object] = {"describe": action.describe(), "signal": None, "target": action.pid}
        if drive.how == "signal":
            step["signal"] = signal_number(drive)
        else:
            agent, cmd = command_for(event, action, before, join_timeout, bound)
            cmd["seq"] = seq
            step.update(agent=agent, cmd=cmd)
            if drive.how == "call" and drive.name == "start":
                step["starts"] = action.pid
        outcomes = [engine_systems[seq]] if record is not None else [t.system for t in found.predicted]
        step["allowed"] = [record.observed] if record is not None else sorted({t.observed for t in found.predicted})
        step.update(_facts(outcomes))
        step["views"] = [ModelView.plain(after) for after in outcomes]
        out.append(step)
    return out


def _facts(outcomes: list[System]) -> dict[str, object]:
    """What the model says the system shows after a step, as the script compares it (the driver's
    ``Snapshot``): the OS view of the first outcome; each exit status and SIGTERM disposition any
    outcome allows (a process's, where one outcome has it)."""
    if not outcomes:
        return {"os": {}}
    allowed: dict[str, dict[str, list[object]]] = {"exitcodes": {}, "sigterm": {}}
    for after in outcomes:
        for kind, facts in (("exitcodes", expected_exitcodes(after)), ("sigterm", expected_dispositions(after))):
            for pid, value in facts.items():
                values = allowed[kind].setdefault(str(pid), [])
                if value not in values:
                    values.append(value)
    first = outcomes[0]
    return {
        "os": {str(k): v for k, v in expected_os(first).items()},
        **allowed,
        "parents": {str(k): p.parent for k, p in enumerate(first.procs) if p.parent is not None},
    }


def write_reproducer(
    found: Disagreement, spec: Spec, folder: Path, join_timeout: float = 0.05, bound: float = 10.0
) -> Path:
    """Write the script into ``folder``; its name is stable for the same disagreement."""
    steps = steps_for(found, spec, found.systems, join_timeout, bound)
    root = Path(agent_module.__file__).parent
    sources = {f"proclife/runtime/{name}": (root / name).read_text() for name in AGENT_MODULES}
    for name, module in EVIDENCE_MODULES.items():
        sources[name] = Path(str(module.__file__)).read_text()
    for package in PACKAGES:
        sources[f"{package}/__init__.py"] = '"""Part of a proclife reproducer: only what it runs."""\n'
    text = TEMPLATE.read_text()
    text = text.replace('IMPL = "fork"', f"IMPL = {found.impl!r}", 1)
    text = text.replace("STEPS: list[dict[str, Any]] = []  # filled in by proclife", f"STEPS: list[dict[str, Any]] = json.loads({json.dumps(json.dumps(steps))})", 1)
    text = text.replace("SOURCES: dict[str, str] = {}  # filled in by proclife", f"SOURCES: dict[str, str] = {sources!r}", 1)
    digest = hashlib.sha256(json.dumps(found.as_json(), sort_keys=True).encode()).hexdigest()[:10]
    safe = found.impl.replace("/", "-").replace(":", "-")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reproduce-{safe}-{digest}.py"
    path.write_text(text)
    return path
