"""Advice read out of a trace: what held a process's exit, what its exit killed, abandoned or left.

Each finding names the model's rule that makes it happen, with that rule's CPython source from
the spec (never restated here). Findings do not change the exit status of ``proclife trace``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from proclife.model.core.extend import load
from proclife.model.core.traits import Traits
from proclife.runtime.events import is_feeder_name
from proclife.trace.view import SECOND, Json, TraceView, when

HOLD_MIN = 0.5  # seconds: a non-daemon thread holding an exit for less is not reported
SIGNAL_RULES = {-9: "process.sigkill", -15: "process.sigterm_default"}


class UnknownRule(LookupError):
    """A finding names a rule the model's spec does not have: the spec and this module disagree."""


@cache
def rule_sources() -> dict[str, str]:
    return {rule.id: rule.source.ref for rule in load().spec.rules}


@dataclass(frozen=True)
class Finding:
    kind: str
    process: str  # main, child, grandchild, descendant-N
    pid: int
    name: str | None
    thread: str | None
    rule: str
    message: str
    seconds: float | None = None

    def as_json(self) -> Json:
        sources = rule_sources()
        if self.rule not in sources:
            raise UnknownRule(f"finding {self.kind} names rule {self.rule!r}, which the model's spec lacks")
        out = asdict(self)
        out["source"] = sources[self.rule]
        return out


def _finding(view: TraceView, kind: str, pid: int, rule: str, message: str, thread: str | None = None,
             seconds: float | None = None) -> Finding:
    return Finding(kind, view.label(pid), pid, view.processes.get(pid, {}).get("name"), thread, rule, message,
                   None if seconds is None else round(seconds, 3))


def _atexit(view: TraceView) -> bool:
    """The model's word for the trace's Python: does a child join its threads first, then its children
    from atexit (the main program's order, 3.13 on)? The start method does not change it."""
    return Traits.of("fork", view.python).children_exit_like_main


def _threads_rule(view: TraceView, pid: int) -> str:
    if view.processes[pid]["role"] == "main":
        return "process.main_joins_threads"
    return "process.child_joins_threads_atexit" if _atexit(view) else "process.child_joins_threads"


def _children_rule(view: TraceView, pid: int) -> str:
    if view.processes[pid]["role"] == "main":
        return "process.main_joins_children"
    return "process.child_joins_children_atexit" if _atexit(view) else "process.child_joins_children"


def _finalizers_rule(view: TraceView, pid: int) -> str:
    """The rule that leaves the finalizers once their feeder joins return."""
    if view.processes[pid]["role"] == "main":
        return "process.main_runs_finalizers"
    return "process.child_runs_finalizers_atexit" if _atexit(view) else "process.child_runs_finalizers"


def _terminate_rule(view: TraceView, pid: int) -> str:
    main = view.processes[pid]["role"] == "main"
    return "process.main_terminates_daemons" if main else "process.child_terminates_daemons"


def _exit_of(view: TraceView, pid: int) -> str:
    return "the main program's exit" if view.processes[pid]["role"] == "main" else f"the exit of {view.describe(pid)}"


def threads_held_exit(view: TraceView) -> Iterator[Finding]:
    """A non-daemon thread still running when its process began joining threads, which then waited for it."""
    for pid in view.processes:
        step = view.step(pid, "threading._shutdown")
        if step is None:
            continue
        for thread in view.threads(pid):
            if thread["daemon"] is not False or thread["ended"] is None or thread["ended"] <= step.begin:
                continue
            held = round((thread["ended"] - step.begin) / SECOND, 3)
            where = f", started at {thread['where']}" if thread["where"] else ""
            if held >= HOLD_MIN:
                yield _finding(view, "thread_held_exit", pid, _threads_rule(view, pid),
                               f"thread {thread['name']!r} (non-daemon{where}) held {_exit_of(view, pid)} for "
                               f"{held:.2f} s", thread=thread["name"], seconds=held)


def daemons_terminated(view: TraceView) -> Iterator[Finding]:
    """A daemonic child still running when its parent's exit function sent it SIGTERM."""
    for pid in view.processes:
        step = view.step(pid, "util._exit_function")
        if step is None:
            continue
        for event in view.of(pid, "terminate", how="terminate"):
            child = event["details"].get("child")
            proc = view.processes.get(child)
            if not step.holds(event["begin"]) or proc is None or not proc["daemon"] \
                    or event["details"].get("returncode") is not None:
                continue
            target = view.of(child, "target_begin")
            working = f", {(event['begin'] - target[0]['begin']) / SECOND:.3f} s into its target" if target else ""
            yield _finding(view, "daemon_child_terminated", child, _terminate_rule(view, pid),
                           f"daemonic {view.describe(child)} was still running when {_exit_of(view, pid)} sent it "
                           f"SIGTERM{working}; it ended with exit status {proc['exit_status']}")


def _ended_at(view: TraceView, pid: int) -> int | None:
    os_exit = view.of(pid, "os_exit")
    return os_exit[0]["begin"] if os_exit else view.processes[pid]["last_event"]


def ended_with_live_work(view: TraceView) -> Iterator[Finding]:
    """A process ended by os._exit or by a signal while non-daemon threads or children were running."""
    terminated = {f.pid for f in daemons_terminated(view)}
    for pid, proc in view.processes.items():
        if proc["ended"] == "os_exit":
            rule, how = "process.os_exit", "os._exit"
        elif proc["ended"] == "signal" and proc["exit_status"] in SIGNAL_RULES and pid not in terminated:
            rule, how = SIGNAL_RULES[proc["exit_status"]], f"signal {-proc['exit_status']}"
        else:
            continue
        end = _ended_at(view, pid)
        if end is None:
            continue
        threads = [t["name"] for t in view.threads(pid)
                   if t["daemon"] is False and (t["ended"] is None or t["ended"] > end)]
        children = [c for c in view.children(pid) if (c["last_event"] or 0) > end]
        if threads or children:
            live = [f"thread {name!r}" for name in threads] + [view.describe(c["pid"]) for c in children]
            yield _finding(view, "ended_with_live_work", pid, rule,
                           f"{view.describe(pid)} ended by {how} with live non-daemon work, neither joined nor "
                           f"terminated: {', '.join(live)}")


def _adopted_on_its_own(view: TraceView, proc: Json) -> bool:
    """A child the tracer adopted because its parent ended first (not because the tracer killed either)."""
    parent = view.processes.get(proc["started_by"])
    return proc["role"] == "child" and proc["adopted_by"] is not None and parent is not None \
        and "killed" not in (proc["ended"], parent["ended"])


def late_children(view: TraceView) -> Iterator[Finding]:
    """Children started during their parent's exit sequence, after it joined its children: orphaned."""
    for pid, proc in view.processes.items():
        parent = proc["started_by"]
        if not _adopted_on_its_own(view, proc):
            continue
        began = view.exit_began(parent)
        started = [e for e in view.of(parent, "process_started") if e["details"].get("child") == pid]
        if began is None or not started or when(started[0]) < began:
            continue
        if (proc["last_event"] or 0) <= (view.processes[parent]["last_event"] or 0):
            continue  # it had ended before its parent: a zombie left, not an orphan
        rule = "process.main_joins_children" if view.processes[parent]["role"] == "main" else (
            "process.child_joins_children_atexit" if _atexit(view) else "process.child_joins_threads")
        yield _finding(view, "child_orphaned_at_exit", pid, rule,
                       f"{view.describe(pid)} was started by thread {started[0]['thread']!r} of "
                       f"{view.describe(parent)} during its exit sequence, after its children were joined: "
                       "never joined, orphaned when its parent ended", thread=started[0]["thread"])


def zombies_left(view: TraceView) -> Iterator[Finding]:
    """Children that ended before their parent, which never collected their exit status."""
    for pid, proc in view.processes.items():
        parent = proc["started_by"]
        if not _adopted_on_its_own(view, proc):
            continue
        if (proc["last_event"] or 0) > (view.processes[parent]["last_event"] or 0):
            continue
        yield _finding(view, "zombie_left", pid, "process.reap",
                       f"{view.describe(pid)} ended before {view.describe(parent)}, which never collected its "
                       "exit status: it stayed a zombie until its parent ended, then was reaped by the tracer")


def never_joined(view: TraceView) -> Iterator[Finding]:
    """Non-daemon children their parent never joined, collected only by its exit function."""
    for pid, proc in view.processes.items():
        parent = proc["started_by"]
        if proc["role"] != "child" or proc["daemon"] or parent not in view.processes:
            continue
        step = view.step(parent, "util._exit_function")
        mine = [e for kind in ("child_join", "child_status") for e in view.of(parent, kind)
                if e["details"].get("child") == pid]
        if step is None or any(e["kind"] == "child_join" and not step.holds(e["begin"]) for e in mine):
            continue
        if any(step.holds(e["begin"]) for e in mine):
            yield _finding(view, "child_never_joined", pid, _children_rule(view, parent),
                           f"{view.describe(pid)} was never joined by {view.describe(parent)}: only its exit "
                           "function collected it")


def _blockers(view: TraceView, pid: int) -> Iterator[tuple[str | None, str, str]]:
    """(thread, rule, what) for each wait a killed process was in."""
    for step in view.steps(pid):
        if step.end is not None:
            continue
        rule = _threads_rule(view, pid) if step.step == "threading._shutdown" else _children_rule(view, pid)
        joins = [e for e in view.open_calls(pid, "thread_join", "thread_joined") if step.holds(e["begin"])]
        names = [n for e in joins for n in ([e["details"].get("name")] if e["details"].get("name")
                                              else e["details"].get("threads", []))]
        for name in names:
            feeder = is_feeder_name(name)
            yield (name, _finalizers_rule(view, pid) if feeder else rule,
                   f"in {step.step}, joining thread {name!r}" + (" (a Queue's feeder, in a finalizer)" if feeder else ""))
        for event in view.open_calls(pid, "child_join", "child_joined"):
            if step.holds(event["begin"]):
                yield None, rule, f"in {step.step}, joining {view.describe(event['details'].get('child'))}"
        return
    for event in view.open_calls(pid, "child_join", "child_joined"):
        yield None, "handle.join_reaps", f"in join() of {view.describe(event['details'].get('child'))}"


def exits_blocked(view: TraceView) -> Iterator[Finding]:
    """What each process killed by the tracer was waiting for."""
    killed_at = view.doc["ended"]
    for pid, proc in view.processes.items():
        if proc["ended"] != "killed" or proc["role"] == "helper":
            continue
        for thread, rule, what in _blockers(view, pid):
            began = view.exit_began(pid)
            since = f" for {(killed_at - began) / SECOND:.1f} s" if began is not None else ""
            yield _finding(view, "exit_blocked", pid, rule,
                           f"{view.describe(pid)} was blocked {what}{since} when it was killed", thread=thread)


FINDERS = (exits_blocked, threads_held_exit, daemons_terminated, ended_with_live_work, late_children,
           zombies_left, never_joined)


def findings(doc: Json) -> list[Json]:
    """Every finding of a trace document, as JSON (with each rule's source)."""
    view = TraceView(doc)
    return [f.as_json() for finder in FINDERS for f in finder(view)]


def summary_line(finding: dict[str, Any]) -> str:
    return f"{finding['kind']}: {finding['message']}\n      rule {finding['rule']}: {finding['source']}"
