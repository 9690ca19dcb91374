"""The summary ``proclife trace`` prints on stderr once the program has ended: the run, its processes, findings."""

from __future__ import annotations

import shlex

from proclife.trace.decide import decision_lines
from proclife.trace.view import SECOND, Json, TraceView

SLOW_FILTER = ("not the C one (no C compiler built it, or PROCLIFE_OBSERVER_FILTER was set empty): every call "
               "of the program went through Python, several times slower for call-heavy code; install gcc "
               "(apt-get install gcc) for the C filter")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def _outcome(doc: Json) -> str:
    program = doc["program"]
    if program["exit_status"] is None:
        return f"incomplete: {program['incomplete']}"
    status = program["exit_status"]
    how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
    tail = f"; incomplete: {program['incomplete']}" if program["incomplete"] else ""
    return f"the program ended by itself, {how}{tail}"


def _process_line(view: TraceView, proc: Json) -> str:
    status = "" if proc["exit_status"] is None else f" {proc['exit_status']}"
    reaped = proc["reaped_by"]
    by = f", reaped by {reaped if reaped == 'tracer' else f'pid {reaped}'}" if reaped is not None else ""
    adopted = " (orphan, adopted by the tracer)" if proc["adopted_by"] else ""
    method = f" [{proc['start_method']}{', daemon' if proc['daemon'] else ''}]" if proc["start_method"] else ""
    return f"    {view.describe(proc['pid'])}{method}: ended {proc['ended']}{status}{by}{adopted}"


def summary(doc: Json, where: str | None = None) -> str:
    view = TraceView(doc)
    seconds = (doc["ended"] - doc["started"]) / SECOND
    lines = [f"proclife trace: {shlex.join(doc['command'])} (Python {doc['python'] or 'not observed'}, "
             f"{seconds:.2f} s)", f"  {_outcome(doc)}"]
    if doc.get("hooks") == "sys.setprofile" and (doc.get("python") or "").startswith("3.11"):
        lines.append(f"  (observed with the Python profile filter: {SLOW_FILTER})")
    shown = [p for p in doc["processes"] if p["role"] != "helper"]
    helpers = len(doc["processes"]) - len(shown)
    helper_note = f" and {_count(helpers, 'helper')} (forkserver, resource tracker)" if helpers else ""
    lines.append(f"  {_count(len(shown), 'process')}{helper_note}, {_count(len(doc['threads']), 'thread')}, "
                 f"{_count(len(doc['events']), 'event')}")
    lines += [_process_line(view, p) for p in shown]
    if doc["findings"]:
        lines.append(f"  findings ({len(doc['findings'])}):")
        for finding in doc["findings"]:
            lines.append(f"  - {finding['kind']}: {finding['message']}")
            lines.append(f"      rule {finding['rule']}: {finding['source']}")
    else:
        lines.append("  no finding")
    if doc.get("decision"):
        lines += decision_lines(doc["decision"])
    if where:
        lines.append(f"  trace: {where}")
    return "\n".join(lines)
