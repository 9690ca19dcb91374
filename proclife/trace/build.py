"""The trace document: the tracer's recording and the observer's events, folded per process and thread.

Everything here is read from facts: a process's parent, start method and daemon flag from its
own ``process_begin`` (or its starter's ``process_started``), how it ended from its events and
from whoever learned its exit status (its parent, or the tracer that reaped it as subreaper).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import psutil

from proclife.runtime.observer import Event, read_events
from proclife.trace.record import Recording

SCHEMA_ID = "proclife.trace/1"
TRACER = "tracer"  # who reaped a process the tracer adopted (or the main process, its own child)


def event_json(event: Event) -> dict[str, Any]:
    return {"pid": event.pid, "tid": event.tid, "thread": event.thread, "thread_daemon": event.thread_daemon,
            "kind": event.kind, "begin": event.begin, "end": event.end, "details": event.details}


def _first(events: Iterable[Event], kind: str) -> Event | None:
    return next((e for e in events if e.kind == kind), None)


def _ppid(own: list[Event]) -> int | None:
    for kind in ("process_begin", "forked", "observer_installed"):
        event = _first(own, kind)
        if event is not None and event.get("ppid") is not None:
            return int(event.get("ppid"))
    return None


def _learned_status(events: list[Event], pid: int) -> tuple[int, int] | None:
    """(the pid that learned ``pid``'s exit status, the status), from a parent's poll or join."""
    for event in events:
        if event.kind in ("child_status", "child_joined") and event.get("child") == pid \
                and event.get("returncode") is not None:
            return event.pid, int(event.get("returncode"))
    return None


def _reaper(events: list[Event], pid: int, rec: Recording) -> int | str | None:
    if pid in rec.reaped:
        return TRACER
    for event in events:
        if event.kind == "child_reaped" and event.get("child") == pid:
            return event.pid
    learned = _learned_status(events, pid)
    return learned[0] if learned else None


def _running(pid: int) -> bool:
    """The OS still runs ``pid`` (not a zombie, not gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _how_ended(own: list[Event], status: int | None, pid: int, rec: Recording) -> str:
    if pid in rec.killed:
        return "killed"
    os_exit = [e for e in own if e.kind == "os_exit"]
    if os_exit and not any(e.kind == "exit_status" and e.time <= os_exit[0].time for e in own):
        return "os_exit"  # the program's own call (a fork child's os._exit after _bootstrap is the library's)
    if status is not None and status < 0:
        return "signal"
    if status is not None or (_first(own, "exit_status") is not None and not (rec.ended_ns == 0 and _running(pid))):
        return "exit"
    return "unknown"


def _role(pid: int, own: list[Event], started: Event | None, rec: Recording) -> str:
    if pid == rec.main_pid:
        return "main"
    if started is not None or _first(own, "process_begin") is not None:
        return "child"  # a Process, maybe killed before its first event
    return "helper"  # a Python process that is no Process object's: the forkserver, the resource tracker, ...


def _process(pid: int, own: list[Event], events: list[Event], rec: Recording) -> dict[str, Any]:
    begin = _first(own, "process_begin")
    started = next((e for e in events if e.kind == "process_started" and e.get("child") == pid), None)
    facts = begin.details if begin is not None else (started.details if started is not None else {})
    learned = _learned_status(events, pid)
    exit_event = _first(own, "exit_status")
    status: int | None
    if pid in rec.reaped and pid not in rec.killed:
        status = rec.reaped[pid].status
    elif learned is not None:
        status = learned[1]
    elif pid in rec.killed:
        status = -9
    elif exit_event is not None and not (rec.ended_ns == 0 and _running(pid)):
        status = exit_event.get("exitcode")
    else:  # a run in progress: from 3.13 a child writes its exit status before its exit function runs (atexit)
        status, exit_event = None, None
    adopted = pid in rec.reaped and pid != rec.main_pid
    return {
        "pid": pid, "ppid": _ppid(own), "role": _role(pid, own, started, rec),
        "started_by": started.pid if started is not None else None,
        "name": facts.get("name"), "class": facts.get("class"), "start_method": facts.get("method"),
        "daemon": facts.get("daemon"),
        "first_event": own[0].begin if own else None, "last_event": max(e.time for e in own) if own else None,
        "ended": _how_ended(own, status, pid, rec), "exit_status": status,
        "reaped_by": _reaper(events, pid, rec), "adopted_by": TRACER if adopted else None,
    }


def _threads(events: list[Event]) -> list[dict[str, Any]]:
    """Each observed thread other than a main thread: started (by whom), began, ended.

    A ``thread_start`` names the thread's native id when it is known (3.11, 3.12); on 3.13 it
    comes before the thread runs and is matched by name to the thread's own first event."""
    threads: dict[tuple[int, int | None], dict[str, Any]] = {}
    unmatched: dict[tuple[int, str], list[Event]] = {}
    for event in events:
        if event.kind == "thread_start":
            if event.get("native_id") is None:
                unmatched.setdefault((event.pid, event.get("name")), []).append(event)
                continue
            key, name, daemon = (event.pid, int(event.get("native_id"))), event.get("name"), event.get("daemon")
        elif event.kind in ("thread_begin", "thread_end"):
            key, name, daemon = (event.pid, event.tid), event.thread, event.thread_daemon
        else:
            continue
        thread = threads.get(key)
        if thread is None:
            pending = unmatched.get((event.pid, name))
            start = pending.pop(0) if pending else None
            thread = threads[key] = {
                "pid": event.pid, "native_id": key[1], "name": name, "daemon": daemon,
                "started": start.time if start else None, "started_by": start.thread if start else None,
                "where": start.get("where") if start else None, "began": None, "ended": None}
        if event.kind == "thread_start":
            thread["started"], thread["started_by"], thread["where"] = event.time, event.thread, event.get("where")
        else:
            thread["began" if event.kind == "thread_begin" else "ended"] = event.time
    never_seen = [{"pid": start.pid, "native_id": None, "name": start.get("name"), "daemon": start.get("daemon"),
                   "started": start.time, "started_by": start.thread, "where": start.get("where"), "began": None,
                   "ended": None} for starts in unmatched.values() for start in starts]
    return [*threads.values(), *never_seen]  # never_seen: started, but its process ended before its first event


def build(rec: Recording) -> dict[str, Any]:
    """The trace of a recorded run (findings are added by the caller)."""
    events = read_events(rec.sink) if rec.sink.exists() else []
    by_pid: dict[int, list[Event]] = {}
    for event in events:
        by_pid.setdefault(event.pid, []).append(event)
    for pid in [*rec.reaped, *(e.get("child") for e in events if e.kind == "process_started")]:
        by_pid.setdefault(int(pid), [])  # processes seen only by their reaper or their starter
    main_installed = _first(by_pid.get(rec.main_pid, []), "observer_installed")
    return {
        "schema": SCHEMA_ID,
        "command": rec.command,
        "python": main_installed.get("python") if main_installed is not None else None,
        "hooks": main_installed.get("hooks") if main_installed is not None else None,
        "started_at": dt.datetime.fromtimestamp(rec.started_wall, dt.UTC).isoformat(timespec="milliseconds"),
        "clock": "CLOCK_MONOTONIC ns (time.monotonic_ns), the observer's",
        "started": rec.started_ns, "ended": rec.ended_ns,
        "program": {"pid": rec.main_pid, "exit_status": rec.exit_status, "killed": rec.exit_status is None,
                    "kill_after": rec.kill_after, "incomplete": rec.incomplete},
        "tracer_pid": rec.tracer_pid,
        "processes": [_process(pid, by_pid[pid], events, rec) for pid in
                      sorted(by_pid, key=lambda pid: (by_pid[pid][0].time if by_pid[pid] else rec.ended_ns, pid))],
        "threads": _threads(events),
        "events": [event_json(e) for e in events],
        "findings": [],
    }
