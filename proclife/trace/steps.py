"""A trace document as the model's steps: one time-ordered sequence per process of the model.

Each step is an ``Action`` of the path language (docs/path-schema.md: model pids in creation
order, thread indices per process) or a ``Check`` on the model's state (an exit step returned,
an exit status learned), with the time span of the facts it comes from. The model's own
internal events (the exit sequence's progress, its joins and SIGTERMs, reaping) are not steps:
its engine runs them, and the checks hold their observable effects against it. Facts the model
does not speak of are counted as outside it, by kind and reason.
"""

from __future__ import annotations

import signal
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from proclife.model.core.engine import Engine
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.values import freeze
from proclife.runtime.events import is_feeder_name
from proclife.trace.view import Json, TraceView, when

EXIT_FUNCTION = "util._exit_function"
THREAD_SHUTDOWN = "threading._shutdown"
# The trace's event kinds that a step stands for as a whole, or that carry nothing the model states
# beyond the step they belong to (a start's fork, a join's reaping, the library's os._exit after _bootstrap).
PARTS = frozenset({"observer_installed", "forked", "fork", "process_begin", "target_begin", "exit_status",
                   "exit_step_begin", "child_join", "child_reaped", "thread_begin", "uncaught", "process_start",
                   "temp_dir"})


@dataclass(frozen=True)
class Check:
    """A condition the model's state must meet at that point: ``kind`` of model process ``pid``.

    ``threads_joined``: threading._shutdown returned; ``children_joined``: util._exit_function
    returned; ``joining_children``: util._exit_function called join() of a child, so it has sent
    SIGTERM to its daemonic children; ``joining_feeder``: util._exit_function joins a Queue's feeder
    thread, so its children joins are over (a finalizer, ``util._run_finalizers``); ``exitcode``: the process has ended with ``value`` (its parent
    or the tracer learned it).
    """

    kind: str
    pid: int
    value: int | None = None

    def describe(self) -> str:
        if self.kind == "exitcode":
            return f"P{self.pid} ended with exit code {self.value}"
        if self.kind == "joining_children":
            return f"P{self.pid}'s {EXIT_FUNCTION} joining its children"
        if self.kind == "joining_feeder":
            return f"P{self.pid}'s {EXIT_FUNCTION} joining a Queue's feeder thread"
        step = THREAD_SHUTDOWN if self.kind == "threads_joined" else EXIT_FUNCTION
        return f"P{self.pid}'s {step} returned"


@dataclass(frozen=True)
class Step:
    """One model step (``action``) or check, from facts of trace process ``pid`` spanning ``begin``..``end``."""

    pid: int
    thread: str | None
    begin: int
    end: int
    what: str  # the trace facts it comes from, in words
    action: Action | None = None
    check: Check | None = None
    creates: int | None = None  # create_child: the model pid it makes (creation order is the path's)
    last: bool = False  # the process's end: after every other step of its time

    @property
    def order(self) -> tuple[int, bool]:
        return self.end, self.last

    def describe(self) -> str:
        if self.action is not None:
            return self.action.describe()
        assert self.check is not None
        return f"check: {self.check.describe()}"


@dataclass
class Translation:
    """Per model process (trace pid), its steps in time order; the facts left outside the model."""

    model_pids: dict[int, int]
    sequences: dict[int, list[Step]]
    outside: Counter[str] = field(default_factory=Counter)
    incomplete: list[str] = field(default_factory=list)

    @cached_property
    def steps(self) -> int:
        return sum(len(s) for s in self.sequences.values())


def _event_name(engine: Engine, name: str) -> str:
    """The model's event of that name (the spec's, so a model without it is said, not guessed at)."""
    return engine.event(name).name


def _signal_event(engine: Engine, signal: str | None) -> str | None:
    """The model's environment event for a signal name (``SIGTERM`` -> ``sigterm``), if it has one."""
    if not signal:
        return None
    name = signal.lower()
    known = {e.name for e in engine.spec.events if e.actor == "environment"}
    return name if name in known else None


def _signal_name(status: int) -> str | None:
    """``SIGTERM`` for an exit status of -15; None for a number that names no signal."""
    try:
        return signal.Signals(-status).name
    except ValueError:
        return None


def is_feeder(thread: Json) -> bool:
    """A multiprocessing Queue's feeder thread (Lib/multiprocessing/queues.py names it, a daemon)."""
    return bool(thread["daemon"]) and is_feeder_name(thread["name"])


def _started(thread: Json) -> int:
    """When a thread began, as far as the trace saw: its start, its first event, else its end."""
    seen = [x for x in (thread["started"], thread["began"]) if x is not None] or [thread["ended"] or 0]
    return int(min(seen))


class _Builder:
    """Reads a trace view into steps; one instance per translation."""

    def __init__(self, doc: Json, engine: Engine) -> None:
        self.view = TraceView(doc)
        self.engine = engine
        self.doc = doc
        self.steps: dict[int, list[Step]] = {}
        self.outside: Counter[str] = Counter()
        self.incomplete: list[str] = []
        self.used: set[int] = set()  # id() of the events a step consumed
        self.mpid: dict[int, int] = {}

    # --- which processes are the model's, and their model pids ---------------------------

    def _creations(self) -> list[tuple[int, Json, Json | None, Json | None]]:
        """Every Process made in the trace: (creator pid, created, start, started), in time order."""
        out: list[tuple[int, Json, Json | None, Json | None]] = []
        for pid, own in self.view.events.items():
            created = [e for e in own if e["kind"] == "process_created"]
            started = [e for e in own if e["kind"] == "process_started"]
            free = list(created)
            for start in (e for e in own if e["kind"] == "process_start"):
                done = next((e for e in started if e["tid"] == start["tid"] and e["begin"] == start["begin"]), None)
                match = next((c for c in free if c["tid"] == start["tid"] and when(c) <= start["begin"]
                              and c["details"].get("name") == start["details"].get("name")), None)
                if match is None:  # renamed between creation and start (Pool names its workers): the oldest
                    match = next((c for c in free if c["tid"] == start["tid"] and when(c) <= start["begin"]), None)
                if match is not None:
                    free.remove(match)
                out.append((pid, match or start, start, done))
            out += [(pid, c, None, None) for c in free]
        return sorted(out, key=lambda item: when(item[1]))

    def _number(self) -> list[tuple[int, Json, Json | None, Json | None, int]]:
        """Model pids: 0 the main program, then each Process made by a process of the model, in creation order.

        A process is created before its own creations, so one pass in time order numbers them all;
        a Process made by a helper (a forkserver's) is outside the model."""
        self.mpid = {self.doc["program"]["pid"]: 0}
        numbered: list[tuple[int, Json, Json | None, Json | None, int]] = []
        for creator, created, start, started in self._creations():
            if creator not in self.mpid:
                continue
            number = len(numbered) + 1
            numbered.append((creator, created, start, started, number))
            if started is not None and started["details"].get("child") is not None:
                self.mpid[int(started["details"]["child"])] = number
        return numbered

    # --- steps -------------------------------------------------------------------------

    def add(self, pid: int, event: Json | None, what: str, begin: int, end: int, *, action: Action | None = None,
            check: Check | None = None, creates: int | None = None, thread: str | None = None,
            last: bool = False) -> None:
        if event is not None:
            self.used.add(id(event))
            thread = thread or event["thread"]
        self.steps.setdefault(pid, []).append(Step(pid, thread, begin, end, what, action, check, creates, last))

    def act(self, name: str, pid: int, thread: int | None = None, arg: object = NO_ARG) -> Action:
        return Action(_event_name(self.engine, name), pid, thread, freeze(arg) if arg is not NO_ARG else NO_ARG)

    def creations(self) -> None:
        for creator, created, start, started, model in self._number():
            daemon = created["details"].get("daemon") if created["details"].get("daemon_given", True) else None
            t = when(created)
            self.add(creator, created, f"Process({created['details'].get('name')!r}) created", t, t,
                     action=self.act("create_child", self.mpid[creator], arg=daemon), creates=model)
            if start is None:
                continue
            if start["details"].get("daemon") != created["details"].get("daemon") \
                    or (daemon is None and start["details"].get("daemon")):
                self.add(creator, None, "daemon flag set before start", start["begin"], start["begin"],
                         action=self.act("set_daemon", model, arg=bool(start["details"].get("daemon"))),
                         thread=start["thread"])
            if started is None:
                self.outside["process_start that never returned"] += 1
                self.used.add(id(start))
                continue
            self.used.add(id(start))
            self.add(creator, started, f"start() of pid {started['details'].get('child')}", start["begin"],
                     when(started), action=self.act("start", model))

    def threads(self) -> None:
        for pid, model in self.mpid.items():
            exit_begins = [s.begin for s in self.view.steps(pid)]
            exit_at = min(exit_begins) if exit_begins else None
            mine = [t for t in self.doc["threads"] if t["pid"] == pid]
            mine.sort(key=_started)
            for index, thread in enumerate(mine):
                t = _started(thread)
                if is_feeder(thread):
                    self._feeder(pid, model, index, thread, t)
                    continue
                for action in (self.act("create_thread", model, arg=bool(thread["daemon"])),
                               self.act("thread_start", model, thread=index)):
                    self.add(pid, None, f"thread {thread['name']!r} started", t, t, thread=thread["started_by"],
                             action=action)
                ended = thread["ended"]
                if ended is None:
                    continue
                if thread["daemon"] and exit_at is not None and ended >= exit_at:
                    self.outside["daemon thread ended in its process's exit sequence (a finalizer joined it)"] += 1
                    continue
                self.add(pid, None, f"thread {thread['name']!r} ended", ended, ended, thread=thread["name"],
                         action=self.act("thread_finish", model, thread=index))
        for event in self.doc["events"]:
            if event["kind"] in ("thread_start", "thread_end") and event["pid"] in self.mpid:
                self.used.add(id(event))

    def _feeder(self, pid: int, model: int, index: int, thread: Json, t: int) -> None:
        """A Queue's feeder thread: its queue's first put started it. Once it has ended it had written
        what it held (a reader took it); one that outlived a process that ended through its finalizers
        was not joined: its queue's cancel_join_thread(), which the observer reports."""
        self.add(pid, None, f"a Queue's put started its feeder thread {thread['name']!r}", t, t,
                 thread=thread["started_by"], action=self.act("queue_put", model))
        ended = thread["ended"]
        if ended is not None:
            self.add(pid, None, f"feeder thread {thread['name']!r} wrote what it held and ended", ended, ended,
                     action=self.act("thread_release", model, thread=index))
            return
        cancels = [e for e in self.view.events.get(pid, []) if e["kind"] == "queue_cancel_join"
                   and id(e) not in self.used]
        if cancels:
            cancel = cancels[0]
            at = max(t, when(cancel))
            self.add(pid, cancel, "Queue.cancel_join_thread()", at, at,
                     action=self.act("cancel_join_thread", model, thread=index))

    def ends(self) -> None:
        for pid, model in self.mpid.items():
            proc = self.view.processes.get(pid)
            if proc is None:
                continue
            if proc["ended"] == "killed":  # its facts up to then are steps; how it would have ended is unknown
                self.incomplete.append(f"pid {pid} was killed by the tracer")
            self._end_of(pid, model, proc)
            self._exit_steps(pid, model)

    def _end_of(self, pid: int, model: int, proc: Json) -> None:
        own = self.view.events.get(pid, [])
        exit_status = next((e for e in own if e["kind"] == "exit_status"), None)
        os_exit = next((e for e in own if e["kind"] == "os_exit"
                        and (exit_status is None or when(e) < when(exit_status))), None)
        target_end = next((e for e in own if e["kind"] == "target_end"), None)
        if os_exit is not None:
            code = os_exit["details"].get("code")
            self.add(pid, os_exit, "os._exit", when(os_exit), when(os_exit),
                     action=self.act("os_exit", model, arg=proc["exit_status"] if code is None else code))
        elif target_end is not None:
            how = target_end["details"].get("how")
            name = {"returned": "target_return", "raised": "target_raise"}.get(how, "sys_exit")
            arg = target_end["details"].get("code") if name == "sys_exit" else NO_ARG
            self.add(pid, target_end, f"target {how}", when(target_end), when(target_end),
                     action=self.act(name, model, arg=arg))
        elif model == 0:
            self._main_end(pid, own)
        elif proc["ended"] == "signal" and proc["exit_status"] is not None and not self._signalled(pid):
            self._signal_from_outside(pid, model, proc["exit_status"], proc["last_event"] or 0)
        for event in own:
            if event["kind"] in ("os_exit", "sys_exit") and exit_status is not None and when(event) > when(exit_status):
                self.used.add(id(event))  # the library's exit after _bootstrap (fork: os._exit, spawn: sys.exit)
        status = self.doc["program"]["exit_status"] if model == 0 else proc["exit_status"]
        if status is not None and proc["ended"] in ("exit", "os_exit") and proc["last_event"] is not None:
            t = proc["last_event"]
            self.add(pid, None, f"ended with {status}", t, t, check=Check("exitcode", model, status), last=True)

    def _main_end(self, pid: int, own: list[Json]) -> None:
        begin = next((e for e in own if e["kind"] == "exit_step_begin" and not e["details"].get("repeat")
                      and e["details"].get("caller") == "interpreter"), None)
        if begin is None:
            status = self.doc["program"]["exit_status"]
            if status is not None and status < 0 and not self._signalled(pid):
                self._signal_from_outside(pid, 0, status, self.view.processes[pid]["last_event"] or 0)
            return
        t = begin["begin"]
        before = [e for e in own if e["thread"] == "MainThread" and when(e) <= t and e is not begin]
        last = before[-1] if before else None
        if any(e["kind"] == "uncaught" for e in own):
            self.add(pid, begin, "the main module raised", t, t, action=self.act("target_raise", 0))
        elif last is not None and last["kind"] == "sys_exit":
            self.used.add(id(last))
            self.add(pid, begin, "the main module called sys.exit", t, t,
                     action=self.act("sys_exit", 0, arg=last["details"].get("code")))
        else:
            self.add(pid, begin, "the main module returned", t, t, action=self.act("target_return", 0))

    def _signal_from_outside(self, pid: int, model: int, status: int, t: int) -> None:
        """A process ended by a signal no traced process sent (a shell, the OOM killer): the model's
        environment event for it at the process's last fact, if the model has one."""
        name = _signal_event(self.engine, _signal_name(status))
        if name is None:
            self.outside[f"ended by a signal the model has no event for ({status})"] += 1
            return
        self.add(pid, None, f"killed by {name.upper()} from outside the trace", t, t, action=self.act(name, model))

    def _signals_to(self, pid: int) -> list[Json]:
        """The calls of the trace that sent ``pid`` a signal (terminate, kill, os.kill)."""
        return [e for e in self.doc["events"] if (e["kind"] == "terminate" and e["details"].get("child") == pid)
                or (e["kind"] == "signal_sent" and e["details"].get("target") == pid)]

    def _signalled(self, pid: int) -> bool:
        return bool(self._signals_to(pid))

    def _exit_steps(self, pid: int, model: int) -> None:
        for step in self.view.steps(pid):
            if step.end is None or step.step not in (EXIT_FUNCTION, THREAD_SHUTDOWN):
                continue
            kind = "threads_joined" if step.step == THREAD_SHUTDOWN else "children_joined"
            returned = next((e for e in self.view.events.get(pid, []) if e["kind"] == "exit_step"
                             and e["begin"] == step.begin), None)
            self.add(pid, returned, f"{step.step} returned", step.end, step.end, check=Check(kind, model))
        for event in self.view.events.get(pid, []):
            if event["kind"] == "exit_step":
                self.used.add(id(event))  # a repeated call, which returns at once
            if event["kind"] in ("thread_join", "thread_joined") and event["details"].get("via") != "Thread.join":
                self.used.add(id(event))  # threading._shutdown's own joins: the model's join_threads
            elif event["kind"] in ("thread_join", "thread_joined") and self._feeder_join(pid, event):
                self.used.add(id(event))  # the finalizers' join of a feeder: the model's run_finalizers
                if event["kind"] == "thread_join":
                    t = event["begin"]
                    self.add(pid, event, f"{EXIT_FUNCTION} joining feeder thread {event['details'].get('name')!r}",
                             t, t, check=Check("joining_feeder", model))

    def _feeder_join(self, pid: int, event: Json) -> bool:
        """A join of a Queue's feeder thread inside the exit function (its finalizer, Queue._finalize_join)."""
        step = self.view.step(pid, EXIT_FUNCTION)
        details = event["details"]
        return (step is not None and step.holds(event["begin"]) and details.get("via") == "Thread.join"
                and bool(details.get("daemon")) and is_feeder_name(details.get("name")))

    def calls(self) -> None:
        """Joins, polls, terminate/kill and signals, each in the process that made the call."""
        for pid, model in self.mpid.items():
            exit_fn = self.view.step(pid, EXIT_FUNCTION)
            own = self.view.events.get(pid, [])
            spans = [(e["begin"], when(e), e["tid"], e["details"].get("child"))
                     for e in own if e["kind"] in ("child_joined", "process_started")]
            for index, event in enumerate(own):
                kind, details, t = event["kind"], event["details"], when(event)
                in_exit = exit_fn is not None and exit_fn.holds(event["begin"])
                if kind == "child_joined":
                    self._join(pid, event, in_exit)
                elif kind == "child_status":
                    self._status(pid, event, in_exit, spans)
                elif kind == "terminate":
                    child = self.mpid.get(int(details.get("child") or -1), -1)
                    follower = next((e for e in own[index + 1:] if e["tid"] == event["tid"]), None)
                    if follower is not None and follower["kind"] == "signal_sent":
                        self.used.add(id(follower))  # the os.kill of Popen._send_signal
                    if in_exit:
                        self.used.add(id(event))  # the exit sequence's SIGTERM of a daemonic child: the model's own
                    elif child > 0:
                        self.add(pid, event, f"{details.get('how')}() of pid {details.get('child')}", event["begin"],
                                 t, action=self.act("kill" if details.get("how") == "kill" else "terminate", child))
                elif kind == "signal_sent" and id(event) not in self.used:
                    self._signal(pid, event)
                elif kind == "signal_disposition" and details.get("signal") == "SIGTERM" \
                        and details.get("disposition") == "ignore" and event["thread"] == "MainThread":
                    self.add(pid, event, "SIGTERM ignored", t, t, action=self.act("install_sigterm", model,
                                                                                    arg="ignore"))

    def _late_signal(self, pid: int) -> bool:
        """``pid`` ended by a signal sent after its exit sequence was over (its last exit step returned, or
        its _bootstrap returned: ``exit_status`` written): it was finalizing its interpreter (spawn's
        ``sys.exit``, a fork child's ``os._exit`` still to come), which the model does not have: its
        exit sequence's end is its death."""
        proc = self.view.processes.get(pid)
        if proc is None or proc["exit_status"] is None or proc["exit_status"] >= 0:
            return False
        done = [when(e) for e in self.view.events.get(pid, []) if e["kind"] == "exit_status"]
        # The last step of its exit sequence: threading._shutdown for a child before 3.13, else the exit function.
        child_first = proc["role"] == "child" and not self.engine.config.traits.children_exit_like_main
        last = self.view.step(pid, THREAD_SHUTDOWN if child_first else EXIT_FUNCTION)
        if last is not None and last.end is not None:
            done.append(int(last.end))
        sent = [e["begin"] for e in self._signals_to(pid)]
        return bool(done and sent) and min(done) < min(sent)

    def _status_check(self, pid: int, event: Json, child: int, code: int) -> None:
        """The exit status ``pid`` learned of its child, held against the model's (or counted outside)."""
        t = when(event)
        known = self.view.processes.get(int(event["details"]["child"]))
        if known is not None and known["ended"] == "killed":
            self.outside["exit status of a process the tracer killed"] += 1
            self.used.add(id(event))
            return
        if self._late_signal(int(event["details"]["child"])):
            self.outside["exit status of a signal that came after the exit sequence (interpreter finalization)"] += 1
            self.used.add(id(event))
            return
        self.add(pid, event, f"exit status of pid {event['details'].get('child')} learned: {code}", t, t,
                 check=Check("exitcode", child, code))

    def _join(self, pid: int, event: Json, in_exit: bool) -> None:
        details = event["details"]
        child = self.mpid.get(int(details.get("child") or -1), -1)
        if child <= 0:
            return
        code = details.get("returncode")
        if in_exit:
            self.add(pid, event, f"{EXIT_FUNCTION} called join() of pid {details.get('child')}", event["begin"],
                     event["begin"], check=Check("joining_children", self.mpid[pid]))
        else:
            name = "join" if details.get("timeout") is None else "join_timeout"
            self.add(pid, event, f"join() of pid {details.get('child')} returned", event["begin"], when(event),
                     action=self.act(name, child))
        if code is not None:
            self._status_check(pid, event, child, int(code))

    def _status(self, pid: int, event: Json, in_exit: bool, spans: list[tuple[int, int, int, object]]) -> None:
        details = event["details"]
        child = self.mpid.get(int(details.get("child") or -1), -1)
        if child <= 0 or details.get("returncode") is None:
            return
        t = when(event)
        inside = any(b <= t <= e and tid == event["tid"] for b, e, tid, _ in spans)
        if not inside and not in_exit:  # a poll of its own: is_alive(), exitcode, active_children()
            self.add(pid, event, f"poll of pid {details.get('child')}", t, t, action=self.act("is_alive", child))
        self._status_check(pid, event, child, int(details["returncode"]))

    def _signal(self, pid: int, event: Json) -> None:
        target = event["details"].get("target")
        model = self.mpid.get(int(target), -1) if target is not None else -1
        signal = _signal_event(self.engine, event["details"].get("signal"))
        if model < 0 or signal is None:
            return
        t = when(event)
        self.add(pid, event, f"{event['details'].get('signal')} sent to pid {target}", t, t,
                 action=self.act(signal, model))

    def finish(self) -> Translation:
        sequences = {pid: sorted(steps, key=lambda s: s.order) for pid, steps in self.steps.items()}
        for event in self.doc["events"]:
            if id(event) in self.used or event["kind"] in PARTS:
                continue
            if event["pid"] not in self.mpid:
                self.outside["events of processes outside the model (forkserver, resource tracker)"] += 1
            else:
                self.outside[event["kind"]] += 1
        return Translation(dict(self.mpid), sequences, self.outside, self.incomplete)


def translate(doc: Json, engine: Engine) -> Translation:
    """The model's steps a trace document stands for, per process of the model, in time order."""
    builder = _Builder(doc, engine)
    builder.creations()
    builder.threads()
    builder.ends()
    builder.calls()
    return builder.finish()
