"""The state of a whole system: a tree of processes, each with its handle and its threads.

Values are immutable and hashable so that the explorer can store millions of them and the
conformance machine can compare prediction and observation by equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NamedTuple

from proclife.model.core.lives import RUNNABLE, is_exiting, is_running, is_terminated
from proclife.model.core.traits import Traits

StartMethod = Literal["fork", "spawn", "forkserver"]
START_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")
# The Python versions whose rules the model states, each checked by experiment (docs/python-versions.md).
PYTHONS: tuple[tuple[int, int], ...] = ((3, 11), (3, 12), (3, 13))
MAIN = 0


# What a thread is besides its daemon flag. "thread": a program's threading.Thread. "atexit": one a
# threading._register_atexit callback releases when threading._shutdown() begins. "feeder": a
# multiprocessing Queue's feeder thread, which a finalizer joins; "feeder_unjoined": one nobody
# joins (after Queue.cancel_join_thread(), or started once the finalizers had begun).
THREAD_KINDS: tuple[str, ...] = ("thread", "atexit", "feeder", "feeder_unjoined")
FEEDERS: frozenset[str] = frozenset({"feeder", "feeder_unjoined"})


class ThreadState(NamedTuple):
    """A ``threading.Thread`` other than the main thread (a tuple: hashed in C, the explorer stores many).

    A feeder thread runs the queue's code, never the program's: it performs no action of the
    program (``acting_thread`` passes it over).
    """

    daemon: bool
    life: str = "new"
    kind: str = "thread"

    @property
    def acts(self) -> bool:
        """It runs the program's code, so it may perform the program's actions."""
        return self.kind not in FEEDERS


class ProcState(NamedTuple):
    """One process: its life as the kernel sees it, and its handle as its parent sees it.

    ``handle`` is ``None`` for the main program, which has no Process object. ``code`` is the
    exit code the exit sequence will end with; ``exitcode`` the one the process did end with
    (negative for a signal). ``awaited`` marks a child its parent's exit sequence has still
    to join; ``joining`` the one child whose join() that sequence is in now (the order is
    CPython's set order: any). ``main_daemon`` is the daemon flag of its main thread: the
    flag of the thread that forked it under fork, else False.
    """

    parent: int | None
    daemon: bool
    life: str = "new"
    handle: str | None = "initial"
    threads: tuple[ThreadState, ...] = ()
    code: int | None = None
    exitcode: int | None = None
    sigterm: str = "default"  # "default" | "ignore" | "exit"
    orphan: bool = False
    awaited: bool = False
    fs_sigterm: str | None = None  # the SIGTERM disposition its forkserver started with (forkserver only)
    joining: bool = False
    main_daemon: bool = False

    @property
    def terminated(self) -> bool:
        return is_terminated(self.life)

    @property
    def exiting(self) -> bool:
        return is_exiting(self.life)

    @property
    def running(self) -> bool:
        return is_running(self.life)


def threads_act(proc: ProcState) -> bool:
    """The threads of ``proc`` can run: it is running or exiting (a state an extension adds is neither)."""
    return proc.running or proc.exiting


def acting_thread(system: System, pid: int, by: str) -> Literal["main"] | int | None:
    """The thread of process ``pid`` that acts for an event of ``by`` 'main' or 'any'.

    Its main thread if runnable; else, for 'any', its first runnable thread; else ``None``:
    the event is not offered. The runtime asks the same thread to perform it. Threads act only
    in a process that is running or exiting: in any other state (new, terminated, or one an
    extension adds, such as stopped by SIGSTOP) no thread of it acts.
    """
    proc = system.procs[pid]
    if proc.life == RUNNABLE:
        return "main"
    if by != "any" or not threads_act(proc):
        return None
    for index, thread in enumerate(proc.threads):
        if thread.life == RUNNABLE and thread.acts:
            return index
    return None


def thread_daemon(system: System, pid: int, thread: str | int) -> bool:
    """The daemon flag of thread ``thread`` ("main" or an index) of process ``pid``."""
    proc = system.procs[pid]
    return proc.main_daemon if thread == "main" else proc.threads[int(thread)].daemon


@dataclass(frozen=True)
class Config:
    """What is fixed for a whole run: the start method and the interpreter's traits."""

    start_method: StartMethod = "fork"
    python: tuple[int, int] = (3, 11)
    optimize: bool = False

    @cached_property
    def traits(self) -> Traits:
        """What this version and start method change: the facts the guards read."""
        return Traits.of(self.start_method, self.python)


_PROC_FIELD = {name: index for index, name in enumerate(ProcState._fields)}


class System(NamedTuple):
    """Every process the run has made; index 0 is the main program."""

    procs: tuple[ProcState, ...]

    @staticmethod
    def initial() -> System:
        return System((ProcState(parent=None, daemon=False, life=RUNNABLE, handle=None),))

    def put(self, pid: int, proc: ProcState) -> System:
        procs = list(self.procs)
        procs[pid] = proc
        return System(tuple(procs))

    def update(self, pid: int, **changes: object) -> System:
        """``procs[pid]`` with ``changes``: what ``_replace`` does, at a third of its cost (the
        explorer makes every successor this way)."""
        fields: list[Any] = list(self.procs[pid])
        for name, value in changes.items():
            if name not in _PROC_FIELD:
                raise ValueError(f"a process state has no field {name!r}; its fields: {', '.join(_PROC_FIELD)}")
            fields[_PROC_FIELD[name]] = value
        procs = list(self.procs)
        procs[pid] = tuple.__new__(ProcState, fields)
        return System(tuple(procs))

    def add(self, proc: ProcState) -> tuple[System, int]:
        return System(self.procs + (proc,)), len(self.procs)

    def children(self, pid: int) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(self.procs) if p.parent == pid)

    def descendants(self, pid: int) -> tuple[int, ...]:
        out: list[int] = []
        todo = list(self.children(pid))
        while todo:
            child = todo.pop()
            out.append(child)
            todo.extend(self.children(child))
        return tuple(sorted(out))

    def describe(self) -> str:
        """One line per process, for traces and error messages."""
        lines = []
        for i, p in enumerate(self.procs):
            who = "main" if p.parent is None else f"P{i}(parent P{p.parent}{', daemon' if p.daemon else ''})"
            threads = ",".join(
                f"{'d' if t.daemon else 'n'}:{t.life}" + ("" if t.kind == "thread" else f":{t.kind}") for t in p.threads
            )
            extra = f" handle={p.handle}" if p.handle else ""
            extra += f" exitcode={p.exitcode}" if p.exitcode is not None else ""
            extra += " orphan" if p.orphan else ""
            extra += f" sigterm={p.sigterm}" if p.sigterm != "default" else ""
            lines.append(f"{who}: {p.life}{extra}" + (f" threads=[{threads}]" if threads else ""))
        return "\n".join(lines)
