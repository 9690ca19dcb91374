"""Why a traced process does not end: its exit phase and what it waits for, from its events and its stacks.

A process is explained once it is still alive ``after`` seconds past the end of its work: its
target's return (``target_end``) or the start of its exit sequence (``exit_step_begin``). The
phase is the model's (``proclife.model.core.lives``): the exit step still open and the join in
it still open say which; what the joined thread or child is doing comes from its stack (the
observer's faulthandler dump, ``proclife.trace.stacks``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from proclife.model.core.lives import JOIN_CHILDREN, JOIN_THREADS, RUN_FINALIZERS, TERMINATE_DAEMONS
from proclife.runtime.observer import Event
from proclife.trace.stacks import StacksUnavailable, ThreadStack, blocked_in, dump, stacks_file

_CLOSES = {"child_join": "child_joined", "thread_join": "thread_joined", "exit_step_begin": "exit_step"}


@dataclass
class _Proc:
    pid: int
    label: str
    events: list[Event] = field(default_factory=list)

    def work_done_ns(self) -> int | None:
        """When its work ended: the target returned or the exit sequence began."""
        ends = [e.time for e in self.events if e.kind in ("target_end", "exit_step_begin")]
        return min(ends) if ends else None

    def open_spans(self) -> list[Event]:
        """Begun and not (yet) returned: joins and exit steps, innermost last."""
        opened: list[Event] = []
        for event in self.events:
            if event.kind in _CLOSES:
                opened.append(event)
            elif event.kind in _CLOSES.values():
                match = next((o for o in reversed(opened) if _CLOSES[o.kind] == event.kind and o.tid == event.tid
                              and o.get("step") == event.get("step")), None)
                if match is not None:
                    opened.remove(match)
        return opened

    def stacks_path(self, folder: Path) -> Path:
        """The file its stacks are dumped to: named by its ``observer_installed`` or ``forked``
        event (a forked child writes to its parent's), else its own in ``folder``."""
        for event in self.events:
            if event.kind in ("observer_installed", "forked") and isinstance(event.get("stacks"), dict):
                return Path(event.get("stacks")["file"])
        return stacks_file(folder, self.pid)

    def thread_names(self) -> dict[int, tuple[str, bool]]:
        """Thread ident -> (name, daemon): from the thread's own ``thread_begin`` (3.13's
        ``thread_start`` comes before the thread has an ident), else its ``thread_start``."""
        names = {int(e.get("ident")): (str(e.get("name")), bool(e.get("daemon")))
                 for e in self.events if e.kind == "thread_start" and e.get("ident") is not None}
        names.update({int(e.get("ident")): (e.thread, bool(e.thread_daemon))
                      for e in self.events if e.kind == "thread_begin" and e.get("ident") is not None})
        return names


def _processes(events: Iterable[Event], main_pid: int) -> dict[int, _Proc]:
    procs: dict[int, _Proc] = {}
    for event in sorted(events, key=lambda e: e.time):
        if event.pid not in procs:
            procs[event.pid] = _Proc(event.pid, "")
        procs[event.pid].events.append(event)
    # P0 the main program, P1... its Process children in the order they began, as the trace numbers
    # them; a process that never ran a Process's _bootstrap (forkserver, resource tracker) is a helper
    ran = [pid for pid, proc in procs.items() if any(e.kind == "process_begin" for e in proc.events)]
    order = [main_pid, *sorted((p for p in ran if p != main_pid), key=lambda pid: procs[pid].events[0].time)]
    for pid, proc in procs.items():
        proc.label = f"helper pid {pid}"
    for index, pid in enumerate(p for p in order if p in procs):
        procs[pid].label = f"P{index}" + (" (main program)" if pid == main_pid else "")
    return procs


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _phase(spans: list[Event]) -> str | None:
    steps = [s.get("step") for s in spans if s.kind == "exit_step_begin"]
    joins = [s.kind for s in spans if s.kind != "exit_step_begin"]
    if "threading._shutdown" in steps:
        return JOIN_THREADS
    if "util._exit_function" in steps:
        # a join of a thread there is a finalizer's (util._run_finalizers, after the children's joins)
        if "thread_join" in joins:
            return RUN_FINALIZERS
        return JOIN_CHILDREN if joins else TERMINATE_DAEMONS
    return None


def _thread_json(stack: ThreadStack, names: dict[int, tuple[str, bool]]) -> dict[str, Any]:
    name, daemon = names.get(stack.ident, ("a thread" if stack.is_thread_bootstrap() else "MainThread", False))
    return {"ident": stack.ident, "name": name, "daemon": daemon, "blocked_in": blocked_in(stack),
            "frames": [{"file": f.file, "line": f.line, "func": f.func} for f in stack.frames]}


def _waiting_for(name: str, daemon: bool, held: dict[str, Any] | None) -> str:
    where = f", blocked in {held['blocked_in']}" if held and held["blocked_in"] else ""
    return f"waiting for thread '{name}' ({'daemon' if daemon else 'non-daemon'}){where}"


def _feeder(thread: dict[str, Any]) -> bool:
    return any(f["func"] == "_feed" and f["file"].endswith("queues.py") for f in thread["frames"])


def _joining_feeder(thread: dict[str, Any]) -> bool:
    return any(f["func"] == "_finalize_join" for f in thread["frames"])


def explain_process(proc: _Proc, procs: dict[int, _Proc], stacks: Path | None, now_ns: int,
                    model: list[str] | None = None) -> dict[str, Any]:
    """One process's explanation (the trace JSON's ``explanations`` item). ``model``: the lives the
    model allows it after the run so far; its facts (open step, open join) choose among them, and
    name the phase when the model is not asked or allows a single one."""
    spans = proc.open_spans()
    phase = _phase(spans)
    exiting = [life for life in model or () if life.startswith("exiting")]
    if len(exiting) == 1 and phase not in exiting:
        phase = exiting[0]
    threads: list[dict[str, Any]] = []
    stacks_error = None
    if stacks is not None:
        try:
            names = proc.thread_names()
            threads = [_thread_json(s, names) for s in dump(proc.pid, proc.stacks_path(stacks))]
        except StacksUnavailable as exc:
            stacks_error = str(exc)
    waits: list[str] = []
    for span in spans:
        if span.kind == "thread_join" and span.get("via") == "_thread._shutdown":  # 3.13: all at once
            waits.extend(_waiting_for(str(name), False, next((t for t in threads if t["name"] == name), None))
                         for name in span.get("threads") or ())
        elif span.kind == "thread_join":
            name, daemon = span.get("name"), span.get("daemon")
            held = next((t for t in threads if t["name"] == name), None)
            if held and _feeder(held):
                waits.append(f"joining the feeder thread of a Queue whose pipe is full (it is blocked in "
                             f"{held['blocked_in']}), in a finalizer (util._run_finalizers)")
                continue
            waits.append(_waiting_for(str(name), bool(daemon), held))
        elif span.kind == "child_join":
            child = procs.get(int(span.get("child") or 0))
            who = child.label if child else f"pid {span.get('child')}"
            main = next((t for t in threads if t["name"] == span.thread), None)
            at = f" ({main['blocked_in']})" if main and main["blocked_in"] else ""
            waits.append(f"joining {who}{at}")
    feeder_join = next((t for t in threads if _joining_feeder(t)), None)
    if feeder_join is not None and not any("feeder" in w for w in waits):
        feeder = next((t for t in threads if _feeder(t)), None)
        full = f" whose pipe is full (it is blocked in {feeder['blocked_in']})" if feeder else ""
        waits.append(f"joining the feeder thread of a Queue{full}, in a finalizer "
                     f"({feeder_join['blocked_in']})")
    done = proc.work_done_ns()
    doing = "; ".join(waits) or "no join open: " + ("; ".join(
        f"thread '{t['name']}' in {t['blocked_in']}" for t in threads) or "its stacks are unknown")
    text = f"{proc.label} is " + (f"in {phase.split('.')[-1]}, " if phase else "in its own code, ") + doing
    return {"pid": proc.pid, "label": proc.label, "phase": phase, "model_states": model or [],
            "since": None if done is None else round((now_ns - done) / 1e9, 3),
            "waits_for": waits, "threads": threads, "stacks_error": stacks_error, "text": text}


def _cross(found: list[dict[str, Any]], procs: dict[int, _Proc]) -> None:
    """A parent joining a child that is itself held: say that each waits for the other."""
    by_pid = {e["pid"]: e for e in found}
    for item in found:
        proc = procs[item["pid"]]
        for span in proc.open_spans():
            child = by_pid.get(int(span.get("child") or 0)) if span.kind == "child_join" else None
            if child is not None and child["waits_for"]:
                item["text"] += (f"; its child {child['label'].split()[0]} cannot end while it is "
                                 f"{child['waits_for'][0]}: each waits for the other")
                child["text"] += f"; its parent {item['label'].split()[0]} is joining it"


def due(events: Iterable[Event], main_pid: int, after: float, now_ns: int) -> list[int]:
    """The pids alive ``after`` seconds past the end of their work."""
    procs = _processes(events, main_pid)
    return [pid for pid, proc in procs.items()
            if (done := proc.work_done_ns()) is not None and now_ns - done >= after * 1e9 and _alive(pid)]


def explain(events: list[Event], main_pid: int, pids: Iterable[int], stacks: Path | None,
            now_ns: int, model: dict[int, list[str]] | None = None) -> list[dict[str, Any]]:
    """The explanations of ``pids`` (the processes of the run that are held), of the processes
    joining them and of the children they join, parents first."""
    procs = _processes(events, main_pid)
    held = set(pids) & set(procs)
    joins = [(pid, span.get("child")) for pid, proc in procs.items() for span in proc.open_spans()
             if span.kind == "child_join"]
    related = {parent for parent, child in joins if child in held} | {child for parent, child in joins
                                                                       if parent in held and child in procs}
    found = [explain_process(procs[pid], procs, stacks, now_ns, (model or {}).get(pid))
             for pid in sorted(held | related) if _alive(pid)]
    found.sort(key=lambda e: e["label"])
    _cross(found, procs)
    return found
