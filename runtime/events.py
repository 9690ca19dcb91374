"""The driver's end of the in-process observers: every lifecycle fact each real process reports of itself.

Every agent process runs ``proclife.runtime.observer`` (installed before its first thread),
writing one line per fact into a FIFO in the run's folder. The driver holds the FIFO's read
end in the hub's selector, so every wait of the driver takes the facts in as they come, and
holds a write end too, so the stream never reads as ended. Lines are whole (each one write,
shorter than PIPE_BUF) and a process's lines are in the order it wrote them.

``Lifecycle`` folds one process's facts into where it is: in its target, in which step of
the exit sequence, joining which child or thread, finished. The conformance runner compares
that with the model's state after every step.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field

from proclife.runtime.errors import HarnessError
from proclife.runtime.observer import Event, parse_line

FIFO = "events.fifo"
PIPE_SIZE = 1 << 20  # room for every fact of a run between two reads (the default 64 KiB could block a writer)

# Facts after which the process has left its target / runs no more Python of its own. Not
# ``exit_status`` (``_bootstrap`` returned its code): on 3.13 a fork or forkserver child runs
# ``atexit._run_exitfuncs()``, and so ``util._exit_function``'s children join, after it
# (Lib/multiprocessing/popen_fork.py ``_launch``), then ``os._exit(code)``.
LEFT_TARGET = frozenset({"target_end", "exit_step_begin"})
FINISHED = frozenset({"os_exit"})


def _finishes(event: Event) -> bool:
    """``os._exit`` ends the process only when given an int (anything else raises TypeError in the
    caller, seen as the code read from its bytecode; an unreadable code is not counted either)."""
    return event.kind != "os_exit" or isinstance(event.get("code"), int)


FEEDER_THREAD = "QueueFeederThread"  # Lib/multiprocessing/queues.py Queue._start_thread names it (a daemon)


def is_feeder_name(name: object) -> bool:
    """A thread name a Queue's feeder thread has."""
    return str(name or "").startswith(FEEDER_THREAD)


def _feeder(event: Event) -> bool:
    """A join of a Queue's feeder thread."""
    return event.get("via") == "Thread.join" and is_feeder_name(event.get("name"))


@dataclass
class Lifecycle:
    """Where one process is, by its own account (what its observer wrote so far)."""

    pid: int
    first: Event | None = None  # its first fact (forked, or observer_installed)
    installed: bool = False
    unhooked: tuple[str, ...] = ()
    left_target: Event | None = None  # the first fact that shows it out of its target
    finished: Event | None = None  # bootstrap returned its exit code, or os._exit was called
    steps: dict[str, Event] = field(default_factory=dict)  # exit steps begun and not returned
    steps_done: dict[str, Event] = field(default_factory=dict)  # exit steps that returned (their return)
    began: dict[str, Event] = field(default_factory=dict)  # each exit step's first begin
    child_joins: dict[int, Event] = field(default_factory=dict)  # child pid -> its join, not returned
    exit_joined: set[int] = field(default_factory=set)  # child pids whose join the exit sequence began
    thread_joins: list[Event] = field(default_factory=list)  # joins inside threading._shutdown, not returned
    feeder_joins: list[Event] = field(default_factory=list)  # joins of a Queue's feeder thread, not returned
    signalled: set[int] = field(default_factory=set)  # pids it sent a signal to (kill, terminate)
    # child pid -> a join of it that returned an exit code and left it a zombie (the kernel still holds it)
    unreaped: dict[int, Event] = field(default_factory=dict)
    last: Event | None = None

    def feed(self, event: Event) -> None:
        self.last = event
        if self.first is None:
            self.first = event
        kind = event.kind
        if kind == "observer_installed":
            self.installed = True
            self.unhooked = tuple(event.get("unhooked") or ())
        elif kind == "observer_unhooked":  # a module imported after the install lacked a name to hook
            self.unhooked = (*self.unhooked, *(event.get("unhooked") or ()))
        elif kind in LEFT_TARGET and self.left_target is None and not event.get("repeat"):
            self.left_target = event
        if kind in FINISHED and self.finished is None and _finishes(event):
            self.finished = event
        elif kind == "exit_step_begin" and not event.get("repeat"):
            self.steps[str(event.get("step"))] = event
            self.began.setdefault(str(event.get("step")), event)
        elif kind == "exit_step" and str(event.get("step")) in self.steps:
            self.steps.pop(str(event.get("step")))
            self.steps_done[str(event.get("step"))] = event
        elif kind == "terminate" and event.get("child") is not None:
            self.signalled.add(int(event.get("child")))
        elif kind == "signal_sent" and event.get("target") is not None:
            self.signalled.add(int(event.get("target")))
        elif kind == "child_join":
            self.child_joins[int(event.get("child") or 0)] = event
            if "util._exit_function" in self.steps:
                self.exit_joined.add(int(event.get("child") or 0))
        elif kind == "child_joined":
            child = int(event.get("child") or 0)
            self.child_joins.pop(child, None)
            if event.get("returncode") is not None and event.get("kernel") == "zombie":
                self.unreaped[child] = event
            else:
                self.unreaped.pop(child, None)
        elif kind == "thread_join" and _feeder(event):
            self.feeder_joins.append(event)
        elif kind == "thread_joined" and _feeder(event) and self.feeder_joins:
            self.feeder_joins.pop(0)
        elif kind == "thread_join" and event.get("via") != "Thread.join":
            self.thread_joins.append(event)
        elif kind == "thread_joined" and event.get("via") != "Thread.join" and self.thread_joins:
            self.thread_joins.pop(0)

    def joining_threads(self) -> bool:
        """Blocked in the exit sequence's join of the non-daemon threads."""
        return "threading._shutdown" in self.steps and bool(self.thread_joins)

    def joining_feeder(self) -> bool:
        """Blocked in the exit sequence's finalizers, joining a Queue's feeder thread (Queue._finalize_join)."""
        return "util._exit_function" in self.steps and bool(self.feeder_joins)

    def joining_children(self) -> list[Event]:
        """The exit sequence's joins of children in progress (a join with a timeout is not one)."""
        if "util._exit_function" not in self.steps:
            return []
        return [e for e in self.child_joins.values() if e.get("timeout") is None]


class EventStream:
    """The run's FIFO of observer facts: read as they come, folded per process."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, FIFO)
        os.mkfifo(self.path, 0o600)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._writer = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)  # the stream never reads as ended
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._partial = b""
        self.events: list[Event] = []
        self.processes: dict[int, Lifecycle] = {}

    def fileno(self) -> int:
        return self.fd

    def read(self) -> int:
        """Take in every whole line the FIFO holds now; how many facts came."""
        before = len(self.events)
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if line.strip():
                    self._take(line)
        return len(self.events) - before

    def _take(self, line: bytes) -> None:
        try:
            event = parse_line(line.decode(), len(self.events))
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise HarnessError(f"the observer stream {self.path} holds a line that is not an event "
                               f"({exc}): {line[:120]!r}") from None
        self.events.append(event)
        mine = self.of(event.pid)
        if event.kind == "forked":  # a fork child runs the observer its parent installed, hooked as there
            parent = self.processes.get(int(event.get("ppid") or 0))
            if parent is not None and parent.installed:
                mine.installed, mine.unhooked = True, parent.unhooked
        mine.feed(event)

    def of(self, pid: int) -> Lifecycle:
        """What process ``pid`` has reported of itself (nothing yet: an empty ``Lifecycle``)."""
        found = self.processes.get(pid)
        if found is None:
            found = self.processes[pid] = Lifecycle(pid)
        return found

    def close(self) -> None:
        for fd in (self.fd, self._writer):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fd = self._writer = -1
