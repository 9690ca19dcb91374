"""What the rules mean: the guards and effects they name, over a whole ``System``.

Rules refer to guards and effects by name, so a spec stays data and an extension can add
its own names. Each function here is small and says in its docstring which CPython
behaviour it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from proclife.model.core.base import (
    BLOCKED,
    JOIN_CHILDREN,
    JOIN_THREADS,
    REAPED,
    RUN_FINALIZERS,
    RUNNABLE,
    TERMINATE_DAEMONS,
    ZOMBIE,
)
from proclife.model.core.errors import ModelError
from proclife.model.core.system import (
    FEEDERS,
    MAIN,
    Config,
    ProcState,
    System,
    ThreadState,
    acting_thread,
    thread_daemon,
)
from proclife.model.core.values import C_INT, freeze, is_exit_int, thaw

NO_ARG: object = type("NoArg", (), {"__repr__": lambda self: "-"})()


class Action(NamedTuple):
    """One event aimed at one component: process ``pid`` (and thread ``thread``), with its argument.

    ``actor`` names the thread that performs it, in the process that acts ("main" or a thread
    index): ``None`` leaves it to ``engine.acting_thread``. The model's outcome depends on which
    thread acts only through that thread's daemon flag: a ``Thread()`` made without ``daemon=``
    takes it, and so does the main thread of a child it starts under fork (docs/semantics.md E10). The runtime asks
    that thread.
    """

    event: str
    pid: int
    thread: int | None = None
    arg: object = NO_ARG  # a scalar, or a JSON list or object made hashable (``values.freeze``)
    actor: str | int | None = None

    def describe(self) -> str:
        where = f"P{self.pid}" + (f".T{self.thread}" if self.thread is not None else "")
        arg = "" if self.arg is NO_ARG else f"({thaw(self.arg)!r})"
        by = "" if self.actor is None else f" by {self.actor if self.actor == 'main' else f'T{self.actor}'}"
        return f"{self.event}{arg} @ {where}{by}"

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.event, "pid": self.pid}
        if self.thread is not None:
            out["thread"] = self.thread
        if self.arg is not NO_ARG:
            out["arg"] = thaw(self.arg)
        if self.actor is not None:
            out["actor"] = self.actor
        return out

    @staticmethod
    def from_json(data: dict[str, object]) -> Action:
        thread = data.get("thread")
        actor = data.get("actor")
        return Action(
            event=str(data["event"]),
            pid=int(data["pid"]),  # type: ignore[call-overload]
            thread=None if thread is None else int(thread),  # type: ignore[call-overload]
            arg=freeze(data["arg"]) if "arg" in data else NO_ARG,
            actor=actor if actor is None or actor == "main" else int(actor),  # type: ignore[call-overload]
        )


class Outcomes(Protocol):
    """What an effect sees of one outcome of a nested action: the system after it and the rules taken."""

    @property
    def system(self) -> System: ...

    @property
    def rules(self) -> tuple[str, ...]: ...


class Firing(Protocol):
    """The one thing an effect may ask of the engine: fire a nested action (a signal an exit sends).

    A protocol, not the engine itself, so that the meanings of the rules sit below the engine
    that runs them and nothing imports round a loop.
    """

    def fire(self, system: System, action: Action) -> Sequence[Outcomes]: ...


@dataclass(frozen=True)
class Ctx:
    """What a guard or an effect may look at besides the system."""

    config: Config
    action: Action
    engine: Firing


Guard = Callable[[System, Ctx], bool]
Branches = list[tuple[System, tuple[str, ...]]]
Effect = Callable[[System, Ctx, str | None], Branches]


@dataclass
class Semantics:
    """The named guards and effects rules may use."""

    guards: dict[str, Guard] = field(default_factory=dict)
    effects: dict[str, Effect] = field(default_factory=dict)

    def merged(self, other: Semantics) -> Semantics:
        return Semantics({**self.guards, **other.guards}, {**self.effects, **other.effects})


# --- guards ---------------------------------------------------------------------------


def _proc(system: System, ctx: Ctx) -> ProcState:
    return system.procs[ctx.action.pid]


def is_main(system: System, ctx: Ctx) -> bool:
    """The main program, whose exit sequence the interpreter runs (not _bootstrap)."""
    return ctx.action.pid == MAIN


def is_child(system: System, ctx: Ctx) -> bool:
    """A process started by multiprocessing: _bootstrap runs its exit sequence."""
    return ctx.action.pid != MAIN


def parent_daemonic(system: System, ctx: Ctx) -> bool:
    """start() asserts that the calling process is not daemonic."""
    parent = _proc(system, ctx).parent
    return parent is not None and system.procs[parent].daemon


def proc_terminated(system: System, ctx: Ctx) -> bool:
    """The OS process has ended (a zombie or reaped); the handle learns it only by polling."""
    return _proc(system, ctx).terminated


def sentinel_lag(system: System, ctx: Ctx) -> bool:
    """Under fork, a live descendant inherited the write end of the sentinel pipe."""
    if not ctx.config.traits.descendants_hold_sentinel:
        return False
    return any(
        system.procs[d].life != "new" and not system.procs[d].terminated
        for d in system.descendants(ctx.action.pid)
    )


def sigterm_is(disposition: str) -> Guard:
    def guard(system: System, ctx: Ctx) -> bool:
        return _proc(system, ctx).sigterm == disposition

    guard.__doc__ = f"The process's SIGTERM disposition is {disposition!r}."
    return guard


def _pending(proc: ProcState) -> bool:
    """Still on its parent's exit join list: awaited and not closed (close() takes it out of _children)."""
    return proc.awaited and proc.handle != "closed"


def children_done(system: System, ctx: Ctx) -> bool:
    """The exit sequence has joined every child it awaited (each join() returned)."""
    return not any(_pending(system.procs[c]) for c in system.children(ctx.action.pid))


def exit_join_next(system: System, ctx: Ctx) -> bool:
    """The parent's exit sequence may join this child next: it is in its children join, this child
    is on its list and no other child's join is in progress (the list is in set order: any)."""
    proc = _proc(system, ctx)
    parent = proc.parent
    if parent is None or not _pending(proc) or proc.joining:
        return False
    if system.procs[parent].life != JOIN_CHILDREN:
        return False
    return not any(system.procs[c].joining and _pending(system.procs[c]) for c in system.children(parent))


def exit_joined(system: System, ctx: Ctx) -> bool:
    """The parent's exit sequence is in join() of this child, and the child has ended: the join returns."""
    proc = _proc(system, ctx)
    return proc.joining and _pending(proc) and proc.terminated \
        and proc.parent is not None and system.procs[proc.parent].life == JOIN_CHILDREN


def threads_done(system: System, ctx: Ctx) -> bool:
    """threading._shutdown() returns once every started non-daemon thread has ended."""
    return all(t.daemon or t.life in ("new", "terminated") for t in _proc(system, ctx).threads)


def _thread(system: System, ctx: Ctx) -> ThreadState:
    assert ctx.action.thread is not None
    return _proc(system, ctx).threads[ctx.action.thread]


def feeder(system: System, ctx: Ctx) -> bool:
    """The thread is a Queue's feeder thread (queues.py Queue._start_thread), not the program's."""
    return _thread(system, ctx).kind in FEEDERS


def join_cancelled(system: System, ctx: Ctx) -> bool:
    """No finalizer will join this feeder thread (cancel_join_thread(), or started after the finalizers ran)."""
    return _thread(system, ctx).kind == "feeder_unjoined"


def atexit_registered(system: System, ctx: Ctx) -> bool:
    """A threading._register_atexit callback already releases this thread."""
    return _thread(system, ctx).kind == "atexit"


def _shutdown_begun(system: System, pid: int, config: Config) -> bool:
    """threading._shutdown() has begun in ``pid`` (it sets _SHUTTING_DOWN): the main program, and from
    3.13 every child, calls it first in the exit sequence; a 3.11 child last, after _exit_function."""
    life = system.procs[pid].life
    if life == JOIN_THREADS:
        return True
    return life.startswith("exiting") and (pid == MAIN or config.traits.children_exit_like_main)


def threading_up(system: System, ctx: Ctx) -> bool:
    """threading._register_atexit accepts a callback: threading._shutdown() has not begun."""
    return not _shutdown_begun(system, ctx.action.pid, ctx.config)


def feeders_to_join(system: System, ctx: Ctx) -> bool:
    """The finalizers after the children joins have a feeder thread to join (its Finalize at priority -5)."""
    return any(t.kind == "feeder" and t.life.startswith("running") for t in _proc(system, ctx).threads)


def feeders_flushed(system: System, ctx: Ctx) -> bool:
    """Every feeder thread the finalizers join has written what it held to its pipe, so its join returns."""
    return not any(t.kind == "feeder" and t.life == BLOCKED for t in _proc(system, ctx).threads)


def spawned(system: System, ctx: Ctx) -> bool:
    """The process runs in an interpreter of its own (spawn): it ends through sys.exit()."""
    return ctx.config.traits.children_run_fresh_interpreter and ctx.action.pid != MAIN


def atexit_in_child(system: System, ctx: Ctx) -> bool:
    """Python 3.13+: a child joins its threads, then runs _exit_function from atexit."""
    return ctx.action.pid != MAIN and ctx.config.traits.children_exit_like_main  # Traits says why


# The main program's phases after threading._shutdown(): Py_FinalizeEx runs atexit, hence
# multiprocessing's _exit_function, once the thread joins are over.
MAIN_PAST_THREAD_SHUTDOWN: tuple[str, ...] = (TERMINATE_DAEMONS, JOIN_CHILDREN, RUN_FINALIZERS)


# The main program's phases once 3.12 marks the interpreter as finalizing: before it joins
# the threads (``Traits.shutdown_refuses_threads``, ``shutdown_refuses_fork``).
MAIN_FINALIZING: tuple[str, ...] = (JOIN_THREADS, *MAIN_PAST_THREAD_SHUTDOWN)


def _main_finalizing(system: System) -> bool:
    return system.procs[MAIN].life in MAIN_FINALIZING


def shutdown_refuses_threads(system: System, ctx: Ctx) -> bool:
    """In the main program's exit sequence Thread.start() raises RuntimeError, where the version does.

    3.11 and 3.13 start the thread and nobody joins it (finding thread_outlives_thread_join).
    """
    return ctx.config.traits.shutdown_refuses_threads and ctx.action.pid == MAIN and _main_finalizing(system)


def shutdown_refuses_fork(system: System, ctx: Ctx) -> bool:
    """A thread of the main program in its exit sequence cannot start a Process, where the version forbids fork."""
    parent = _proc(system, ctx).parent
    return ctx.config.traits.shutdown_refuses_fork and parent == MAIN and _main_finalizing(system)


def exit_status_int(system: System, ctx: Ctx) -> bool:
    """os._exit(n) takes an int within a C int; any other argument raises TypeError or OverflowError in the target."""
    return is_exit_int(ctx.action.arg)


def reaped_by_other(system: System, ctx: Ctx) -> bool:
    """The forkserver reaps its children at once; a subreaper its orphans; a shell the main program."""
    proc = _proc(system, ctx)
    if proc.parent is None or proc.orphan:
        return True
    return ctx.config.traits.zombies_reaped_at_once


# --- effects --------------------------------------------------------------------------


def one(system: System) -> Branches:
    return [(system, ())]


def send(system: System, ctx: Ctx, event: str | None) -> Branches:
    """Fire a process event on the same process (start() launches, terminate() signals)."""
    assert event is not None
    action = Action(event, ctx.action.pid)
    # No rule for the event there means the model does not say: the caller is not enabled.
    return [(t.system, t.rules) for t in ctx.engine.fire(system, action)]


def _actor(system: System, ctx: Ctx, pid: int) -> str | int:
    """The thread of ``pid`` that performs the action (an event of ``by`` 'any'): named, or the implicit one."""
    actor = ctx.action.actor if ctx.action.actor is not None else acting_thread(system, pid, "any")
    return "main" if actor is None else actor


def new_child(system: System, ctx: Ctx, _: str | None) -> Branches:
    """Process(daemon=...) in the acting process: a handle in 'initial', a process in 'new'.

    Without daemon= (None) the Process copies current_process()._config: the creating
    process's own flag (the main program's is False).
    """
    arg = ctx.action.arg
    daemon = _proc(system, ctx).daemon if arg is None else bool(arg)
    system, _pid = system.add(ProcState(parent=ctx.action.pid, daemon=daemon))
    return one(system)


def new_thread(system: System, ctx: Ctx, _: str | None) -> Branches:
    """threading.Thread(daemon=...); without daemon= (None) it takes current_thread().daemon."""
    pid = ctx.action.pid
    arg = ctx.action.arg
    daemon = thread_daemon(system, pid, _actor(system, ctx, pid)) if arg is None else bool(arg)
    proc = system.procs[pid]
    return one(system.update(pid, threads=proc.threads + (ThreadState(daemon=daemon),)))


def _finalizers_begun(system: System, pid: int, config: Config) -> bool:
    """_run_finalizers() has read its registry: a finalizer registered now never runs."""
    life = system.procs[pid].life
    late_shutdown = pid != MAIN and not config.traits.children_exit_like_main
    return life == RUN_FINALIZERS or (late_shutdown and life == JOIN_THREADS)


def new_feeder(system: System, ctx: Ctx, _: str | None) -> Branches:
    """Queue.put starts the queue's feeder thread (daemon), blocked on a pipe the put overfills."""
    pid = ctx.action.pid
    kind = "feeder_unjoined" if _finalizers_begun(system, pid, ctx.config) else "feeder"
    feeder = ThreadState(daemon=True, life=BLOCKED, kind=kind)
    return one(system.update(pid, threads=system.procs[pid].threads + (feeder,)))


def _set_thread(system: System, pid: int, index: int, thread: ThreadState) -> System:
    threads = list(system.procs[pid].threads)
    threads[index] = thread
    return system.update(pid, threads=tuple(threads))


def kind(system: System, ctx: Ctx, value: str | None) -> Branches:
    """What the thread is now (a feeder nobody joins, a thread an atexit callback releases)."""
    assert ctx.action.thread is not None and value is not None
    thread = _thread(system, ctx)._replace(kind=value)
    return one(_set_thread(system, ctx.action.pid, ctx.action.thread, thread))


def join_feeders(system: System, ctx: Ctx, _: str | None) -> Branches:
    """The feeders' joins returned: each joined feeder thread has ended (its queue's close sentinel, priority 10)."""
    threads = tuple(t._replace(life="terminated") if t.kind == "feeder" and t.life.startswith("running") else t
                    for t in _proc(system, ctx).threads)
    return one(system.update(ctx.action.pid, threads=threads))


def run_threading_atexits(system: System, ctx: Ctx, _: str | None) -> Branches:
    """threading._shutdown() calls the _register_atexit callbacks: each releases its thread, once."""
    threads = tuple(t._replace(kind="thread", life=RUNNABLE if t.life == BLOCKED else t.life) if t.kind == "atexit"
                    else t for t in _proc(system, ctx).threads)
    return one(system.update(ctx.action.pid, threads=threads))


def inherit_main_thread(system: System, ctx: Ctx, _: str | None) -> Branches:
    """start() under fork: the child's main thread is the calling thread's Thread object, daemon flag included."""
    pid = ctx.action.pid
    parent = system.procs[pid].parent
    if parent is None or not ctx.config.traits.children_inherit_forking_thread:
        return one(system)
    return one(system.update(pid, main_daemon=thread_daemon(system, parent, _actor(system, ctx, parent))))


def set_daemon(system: System, ctx: Ctx, _: str | None) -> Branches:
    return one(system.update(ctx.action.pid, daemon=bool(ctx.action.arg)))


def set_handler(system: System, ctx: Ctx, _: str | None) -> Branches:
    return one(system.update(ctx.action.pid, sigterm=ctx.action.arg))


def reap(system: System, ctx: Ctx, _: str | None) -> Branches:
    """The poll collected the exit status: the zombie is gone."""
    return one(_reap(system, ctx.action.pid))


def _reap(system: System, pid: int) -> System:
    if system.procs[pid].life == ZOMBIE:
        system = system.update(pid, life=REAPED)
    return system


def _poll_ended(system: System, pids: tuple[int, ...]) -> System:
    """_cleanup(): each started process of ``pids`` that has ended is polled (handle -> stopped, reaped)."""
    for pid in pids:
        p = system.procs[pid]
        if p.handle == "started" and p.terminated:
            system = _reap(system.update(pid, handle="stopped"), pid)
    return system


def poll_siblings(system: System, ctx: Ctx, _: str | None) -> Branches:
    """start() calls _cleanup(): every started sibling that has ended is polled (handle -> stopped)."""
    parent = _proc(system, ctx).parent
    siblings = system.children(parent) if parent is not None else ()
    return one(_poll_ended(system, tuple(s for s in siblings if s != ctx.action.pid)))


def poll_children(system: System, ctx: Ctx, _: str | None) -> Branches:
    """_exit_function's first active_children() calls _cleanup(): the children that have ended are reaped."""
    return one(_poll_ended(system, system.children(ctx.action.pid)))


def code(system: System, ctx: Ctx, how: str | None) -> Branches:
    """Record the exit code the process will end with."""
    arg = ctx.action.arg
    if how == "sys_exit":
        value = _sys_exit_code(arg)
    elif how == "low_byte":
        value = int(arg) & 0xFF  # type: ignore[call-overload]
    else:
        value = int(str(how))
    return one(system.update(ctx.action.pid, code=value))


class ExitArgumentError(ModelError):
    """An exit status the model does not state: one line, the value and the range it does."""


def _sys_exit_code(arg: object) -> int:
    """_bootstrap: None -> 0, an int (bool too) -> its low byte once os._exit has it, else 1 (3.5, [1, 2], "text")."""
    if arg is None:
        return 0
    if isinstance(arg, int):
        if arg not in C_INT:
            raise ExitArgumentError(
                f"sys.exit({arg}): the model states exit statuses within a C int only (past it fork's os._exit "
                f"raises OverflowError after the target); give an int from {C_INT.start} to {C_INT.stop - 1}")
        return int(arg) & 0xFF
    return 1


def die(system: System, ctx: Ctx, _: str | None) -> Branches:
    """The OS process ends: every thread with it; live children are orphaned."""
    pid = ctx.action.pid
    proc = system.procs[pid]
    threads = tuple(t._replace(life="terminated") for t in proc.threads)
    system = system.update(pid, exitcode=proc.code, threads=threads)
    for child in system.children(pid):
        c = system.procs[child]
        if c.life != "new" and not c.terminated:
            system = system.update(child, orphan=True)
        elif c.life == ZOMBIE:  # re-parented to the subreaper (or init), which reaps it
            system = system.update(child, life=REAPED)
    return one(system)


def inherit_sigterm(system: System, ctx: Ctx, _: str | None) -> Branches:
    """A child starts with its parent's SIGTERM disposition, as far as its start method carries it.

    fork copies the handler or SIG_IGN; spawn execs, which keeps SIG_IGN and resets a Python
    handler to the default; forkserver children get the disposition the forkserver itself
    was exec'd with at the parent's first start().
    """
    pid = ctx.action.pid
    parent = system.procs[pid].parent
    if parent is None:
        return one(system)
    mine = system.procs[parent].sigterm
    across_exec = "ignore" if mine == "ignore" else "default"
    traits = ctx.config.traits
    if traits.children_copy_handlers:
        value = mine
    elif traits.children_share_forkserver:
        value = system.procs[parent].fs_sigterm or across_exec
        system = system.update(parent, fs_sigterm=value)
    else:
        value = across_exec
    return one(system.update(pid, sigterm=value))


def await_children(system: System, ctx: Ctx, _: str | None) -> Branches:
    """active_children() is read once: only children started by now are joined."""
    for child in system.children(ctx.action.pid):
        c = system.procs[child]
        if c.handle == "started" and not c.orphan:
            system = system.update(child, awaited=True)
    return one(system)


def begin_exit_join(system: System, ctx: Ctx, _: str | None) -> Branches:
    """The parent's exit sequence calls join() of this child."""
    return one(system.update(ctx.action.pid, joining=True))


def end_exit_join(system: System, ctx: Ctx, _: str | None) -> Branches:
    """That join() returned: the child is off the list."""
    return one(system.update(ctx.action.pid, joining=False, awaited=False))


def sigterm_daemon_children(system: System, ctx: Ctx, _: str | None) -> Branches:
    """_exit_function: p._popen.terminate() for every live daemonic child, in order."""
    branches: Branches = [(system, ())]
    for child in system.children(ctx.action.pid):
        c = system.procs[child]
        if not (c.daemon and c.handle == "started" and not c.terminated):
            continue
        nxt: Branches = []
        for sys_, rules in branches:
            for t in ctx.engine.fire(sys_, Action("sigterm", child)):
                nxt.append((t.system, rules + t.rules))
        branches = nxt
    return branches


# Guards that read only the run's configuration and which process it is, never the state:
# a rule one of them rules out can never apply under that configuration.
CONFIG_ONLY: frozenset[str] = frozenset({"is_main", "is_child", "spawned", "atexit_in_child"})


def base_semantics() -> Semantics:
    guards: dict[str, Guard] = {
        "is_main": is_main,
        "is_child": is_child,
        "parent_daemonic": parent_daemonic,
        "proc_terminated": proc_terminated,
        "sentinel_lag": sentinel_lag,
        "sigterm_default": sigterm_is("default"),
        "sigterm_ignore": sigterm_is("ignore"),
        "sigterm_exit": sigterm_is("exit"),
        "children_done": children_done,
        "exit_join_next": exit_join_next,
        "exit_joined": exit_joined,
        "threads_done": threads_done,
        "reaped_by_other": reaped_by_other,
        "exit_status_int": exit_status_int,
        "shutdown_refuses_threads": shutdown_refuses_threads,
        "shutdown_refuses_fork": shutdown_refuses_fork,
        "spawned": spawned,
        "atexit_in_child": atexit_in_child,
        "feeder": feeder,
        "join_cancelled": join_cancelled,
        "atexit_registered": atexit_registered,
        "threading_up": threading_up,
        "feeders_to_join": feeders_to_join,
        "feeders_flushed": feeders_flushed,
    }
    effects: dict[str, Effect] = {
        "send": send,
        "new_child": new_child,
        "new_thread": new_thread,
        "set_daemon": set_daemon,
        "set_handler": set_handler,
        "reap": reap,
        "poll_siblings": poll_siblings,
        "code": code,
        "die": die,
        "await_children": await_children,
        "poll_children": poll_children,
        "begin_exit_join": begin_exit_join,
        "end_exit_join": end_exit_join,
        "inherit_main_thread": inherit_main_thread,
        "sigterm_daemon_children": sigterm_daemon_children,
        "inherit_sigterm": inherit_sigterm,
        "new_feeder": new_feeder,
        "kind": kind,
        "join_feeders": join_feeders,
        "run_threading_atexits": run_threading_atexits,
    }
    return Semantics(guards, effects)
