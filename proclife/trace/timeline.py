"""A traced run laid out in time: a lane per process and per thread, its phases as spans, its decisive events as marks.

Pure: a trace document in, a ``Timeline`` out; ``proclife.trace.timeline_svg`` draws it. Every span
and mark is read from the observer's facts (no guessed instants): a process runs from its first
fact, its exit steps are the spans of its ``exit_step_begin``/``exit_step`` facts, a join is the
span of its call and return, and a process whose end it could not see itself (a signal, a kill)
has a tail up to when its reaper learned its status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from proclife.trace.view import Json, TraceView, when

RUNNING = "running"
JOIN = "join"
UNOBSERVED = "unobserved"  # after the last own fact, until the reaper learned the status
STEP = "step:"  # prefix of an exit step's span kind: step:threading._shutdown, step:util._exit_function


@dataclass(frozen=True)
class Span:
    begin: int
    end: int
    kind: str
    label: str


@dataclass(frozen=True)
class Mark:
    at: int
    kind: str  # event | end | signal | finding
    label: str


@dataclass(frozen=True)
class Lane:
    key: str  # P0, P1, P1/Writer
    title: str
    pid: int
    thread: str | None  # None: the process itself (its main thread)
    spans: tuple[Span, ...]
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Timeline:
    title: str
    origin: int  # the earliest fact (ns): time 0 of the axis
    until: int
    lanes: tuple[Lane, ...]
    findings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _end_learned(view: TraceView, pid: int) -> int | None:
    """When someone learned that ``pid`` ended: its reaper's poll or join, or the tracer's reaping."""
    times = [when(e) for e in view.doc["events"] if e["details"].get("child") == pid and (
        e["kind"] in ("child_reaped", "child_status")
        or (e["kind"] == "child_joined" and e["details"].get("returncode") is not None))]
    proc = view.processes[pid]
    if proc["role"] == "main" or proc["ended"] == "killed" or proc["reaped_by"] == "tracer":
        times.append(int(view.doc["ended"]))
    return min(times) if times else None


def _keys(doc: Json) -> dict[int, str]:
    """P0 for the main program, then P1, P2, ... in the trace's order of processes."""
    main = doc["program"]["pid"]
    others = [p["pid"] for p in doc["processes"] if p["pid"] != main]
    return {main: "P0", **{pid: f"P{i}" for i, pid in enumerate(others, 1)}}


def _title(proc: Json, key: str) -> str:
    if proc["role"] == "main":
        return f"{key} main (pid {proc['pid']})"
    flags = ", ".join(x for x in (proc.get("start_method"), "daemon" if proc.get("daemon") else None) if x)
    name = proc.get("name") or proc["role"]
    return f"{key} {name}" + (f" ({flags})" if flags else "") + f" pid {proc['pid']}"


def _mark(event: Json, keys: dict[int, str]) -> Mark | None:
    """The mark of an event that decides how a process ends, or None for the rest."""
    kind, d = event["kind"], event["details"]
    other = keys.get(d.get("child"), str(d.get("child")))
    labels = {
        "target_begin": "target",
        "target_end": f"target end ({d.get('how')}" + (f" {d['exception']}" if d.get("exception") else "")
                      + (f" {d['code']}" if d.get("code") is not None else "") + ")",
        "os_exit": f"os._exit({d.get('code')})",
        "sys_exit": f"sys.exit({d.get('code')})",
        "uncaught": f"uncaught {d.get('exception')}",
        "terminate": f"{d.get('how')} {other}",
        "process_started": f"start {other}",
        "thread_start": f"start thread {d.get('name')}",
        "signal_handler": f"{d.get('signal')} handler",
        "child_joined": f"joined {other}" + (f" ({d['returncode']})" if d.get("returncode") is not None else ""),
    }
    if kind == "thread_joined" and d.get("name"):
        return Mark(when(event), "event", f"joined thread {d['name']}")
    return Mark(when(event), "event", labels[kind]) if kind in labels else None


def _joins(view: TraceView, pid: int, keys: dict[int, str], last: int) -> list[tuple[str | None, Span]]:
    """(the joining thread, the span) of each child join and each thread join of the exit; one that never
    returned lasts until ``last``, the process's end."""
    out: list[tuple[str | None, Span]] = []
    for call, done, what in (("child_join", "child_joined", "child"), ("thread_join", "thread_joined", "name")):
        ends = {(e["tid"], e["begin"]): e["end"] for e in view.of(pid, done)}
        for e in view.of(pid, call):
            end = ends.get((e["tid"], e["begin"]))
            about = e["details"].get(what)
            if what == "child":
                label = f"join {keys.get(about, about)}"
            else:  # 3.13's _thread._shutdown joins every non-daemon thread at once and names them in `threads`
                label = f"join thread {about or ', '.join(e['details'].get('threads') or ())}"
            out.append((e["thread"], Span(e["begin"], last if end is None else end, JOIN,
                                          label + (" (never returned)" if end is None else ""))))
    return out


def _process_lane(view: TraceView, proc: Json) -> tuple[list[Span], int, int]:
    """The process's running and exit-step spans, its last own fact, and its end: when its end was
    learned, if later. An exit step that never returned lasts until that end: the process was in it."""
    pid = proc["pid"]
    started = next((when(e) for e in view.doc["events"] if e["kind"] == "process_started"
                    and e["details"].get("child") == pid), None)
    begin: int | None = proc["first_event"] if proc["first_event"] is not None else started
    learned = _end_learned(view, pid)
    if begin is None:
        return [], learned or 0, learned or 0
    last: int = proc["last_event"] if proc["last_event"] is not None else (learned or begin)
    end = max(last, learned or last)
    steps = view.steps(pid)
    exit_began = min((s.begin for s in steps), default=last)
    spans = [Span(begin, max(begin, exit_began), RUNNING, "running")]
    spans += [Span(s.begin, end if s.end is None else s.end, STEP + s.step,
                   s.step + ("" if s.end is not None else " (never returned)")) for s in steps]
    return spans, last, end


def _ended(proc: Json) -> str:
    status = proc["exit_status"]
    how = "killed by the tracer (--kill-after)" if proc["ended"] == "killed" else proc["ended"]
    return f"ended: {how}" + (f" {status}" if status is not None else "")


def timeline(doc: Json) -> Timeline:
    """The trace ``doc`` as lanes of spans and marks (its ``findings`` marked where they are about)."""
    view, keys = TraceView(doc), _keys(doc)
    events = doc["events"]
    origin = min([e["begin"] for e in events] or [doc["started"]])
    until = max([when(e) for e in events] + [int(doc["ended"])])
    findings = doc.get("findings") or []
    lanes: list[Lane] = []
    for proc in sorted(doc["processes"], key=lambda p: int(keys[p["pid"]][1:])):
        pid, key = proc["pid"], keys[proc["pid"]]
        spans, last, end = _process_lane(view, proc)
        threads = sorted(view.threads(pid), key=lambda t: (t["started"] or t["began"] or 0, t["name"] or ""))
        names = {t["name"] for t in threads}
        joins = _joins(view, pid, keys, end)
        spans += [s for t, s in joins if t not in names]
        if end > last and not any(s.label.endswith("(never returned)") for s in spans):
            spans.append(Span(last, end, UNOBSERVED, f"no fact of its own; its end was learned by "
                                                     f"{proc['reaped_by'] or 'nobody'}"))
        own: list[Mark] = []
        by_thread: dict[str | None, list[Mark]] = {}
        for event in view.events.get(pid, []):
            mark = _mark(event, keys)
            if mark is not None:
                by_thread.setdefault(event["thread"] if event["thread"] in names else None, []).append(mark)
        for event in events:
            d = event["details"]
            if event["kind"] == "signal_sent" and d.get("target") == pid:
                own.append(Mark(when(event), "signal", f"{d.get('signal')} from {keys.get(event['pid'], '?')}"))
        own.append(Mark(end, "end", _ended(proc)))
        marked = {f["thread"] for f in findings if f["pid"] == pid and f.get("thread") in names}
        own += [Mark(end, "finding", f"⚠ {f['kind']}") for f in findings
                if f["pid"] == pid and f.get("thread") not in marked]
        lanes.append(Lane(key, _title(proc, key), pid, None,
                          tuple(spans),
                          tuple(sorted(own + by_thread.get(None, []), key=lambda m: (m.at, m.label)))))
        for t in threads:
            tb = t["began"] or t["started"] or (spans[0].begin if spans else origin)
            te = t["ended"] or end
            tmarks = [*by_thread.get(t["name"], []), Mark(te, "end", "ended" if t["ended"] else "no end seen")]
            tmarks += [Mark(te, "finding", f"⚠ {f['kind']}") for f in findings
                       if f["pid"] == pid and f.get("thread") == t["name"]]
            flag = "daemon" if t["daemon"] else "non-daemon"
            lanes.append(Lane(f"{key}/{t['name']}", f"  └ {t['name']} ({flag})", pid, t["name"],
                              tuple([Span(tb, max(tb, te), RUNNING, "running")]
                                    + [s for n, s in joins if n == t["name"]]),
                              tuple(sorted(tmarks, key=lambda m: (m.at, m.label)))))
    decision = doc.get("decision") or {}
    verdict = f"; decision: {decision['verdict']} ({decision['matched']} of {decision['steps']} steps)" \
        if decision else ""
    title = f"{' '.join(doc['command'])}  (Python {doc.get('python') or '?'}{verdict})"
    texts = tuple(f"{f['kind']} ({keys.get(f['pid'], f['pid'])}): {f['message']} [rule {f['rule']}]" for f in findings)
    return Timeline(title, origin, until, tuple(lanes), texts)
