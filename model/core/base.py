"""The base model: CPython's ``multiprocessing`` process life-cycle as data.

This file is the single source of truth. Every state, event and rule below carries the
CPython function (3.11, unchanged through 3.13 unless a rule says otherwise) or the
experiment it comes from. Diagrams, the explorer, the SPIN export and the conformance
tests are all derived from ``BASE``.
"""

from __future__ import annotations

# The states the engines, the exports and the runtime name, each once (lives.py); re-exported here.
from proclife.model.core.lives import (
    BLOCKED,
    JOIN_CHILDREN,
    JOIN_THREADS,
    REAPED,
    RUN_FINALIZERS,
    RUNNABLE,
    TERMINATE_DAEMONS,
    ZOMBIE,
)
from proclife.model.core.spec import NOTHING, Drive, EventDef, Outcome, Rule, Source, Spec, StateDef

P = "Lib/multiprocessing/process.py"
U = "Lib/multiprocessing/util.py"
PF = "Lib/multiprocessing/popen_fork.py"
TH = "Lib/threading.py"
Q = "Lib/multiprocessing/queues.py"


def src(ref: str) -> Source:
    return Source(f"CPython 3.11 {ref}")


def src313(ref: str) -> Source:
    """A rule that holds from CPython 3.13 on (guard ``atexit_in_child``)."""
    return Source(f"CPython 3.13 {ref}")


def seen(ref: str) -> Source:
    return Source(ref, kind="experiment")


def ret(value: str) -> Outcome:
    return Outcome(returns=value)


def err(kind: str, message: str) -> Outcome:
    return Outcome(raises=(kind, message))


CLOSED = err("ValueError", "process object is closed")
TWICE = err("AssertionError", "cannot start a process twice")
NOT_STARTED_JOIN = err("AssertionError", "can only join a started process")
ALREADY_STARTED = err("AssertionError", "process has already started")
STILL_RUNNING = err(
    "ValueError",
    "Cannot close a process while it is still running. "
    "You should first call join() or terminate().",
)


STATES = (
    # The handle: the Process object as its parent sees it; names follow repr().
    StateDef("handle", "initial", "created, start() not called yet"),
    StateDef("handle", "started", "start() returned; no poll has seen the process end"),
    StateDef("handle", "stopped", "a poll (is_alive, exitcode, join, close, a sibling's start) saw the end"),
    StateDef("handle", "closed", "close() released the object's resources"),
    # The process itself.
    StateDef("process", "new", "the Process object exists; no OS process yet"),
    StateDef("process", "running", "the target (or the main program's code) runs"),
    StateDef("process", RUNNABLE, "the main thread can act"),
    StateDef("process", BLOCKED, "the main thread waits on a primitive"),
    StateDef("process", "exiting", "the target has ended; the exit sequence runs"),
    StateDef("process", TERMINATE_DAEMONS, "SIGTERM to each live daemonic child"),
    StateDef("process", JOIN_CHILDREN, "join() every child started before this phase"),
    StateDef("process", RUN_FINALIZERS, "util._run_finalizers(): the finalizers of priority below 0, each "
             "Queue's feeder-thread join (priority -5) among them"),
    StateDef("process", JOIN_THREADS, "threading._shutdown(): join non-daemon threads"),
    StateDef("process", "terminated", "the OS process has ended"),
    StateDef("process", ZOMBIE, "ended; its exit status not yet collected"),
    StateDef("process", REAPED, "its exit status collected; the pid is gone"),
    # A thread other than the main thread.
    StateDef("thread", "new", "threading.Thread created, not started"),
    StateDef("thread", "running", "start() returned"),
    StateDef("thread", RUNNABLE, "the thread can act"),
    StateDef("thread", BLOCKED, "the thread waits on a primitive"),
    StateDef("thread", "terminated", "run() ended, or the process ended under it"),
)

BOOL = (False, True)
# A daemon= argument: None is the constructors' default, which takes the creator's flag.
DAEMON = (False, True, None)


def api(name: str, doc: str, *, ends: bool = False, **kw: object) -> EventDef:
    """A Process API call (method or property ``name``), made by a thread of the parent process."""
    return EventDef(name, "handle", "program", doc, drive=Drive("call", name, ends), **kw)  # type: ignore[arg-type]


def op(name: str, machine: str, doc: str, *, ends: bool = False, **kw: object) -> EventDef:
    """An operation of the program inside the process, performed there by the agent."""
    return EventDef(name, machine, "program", doc, drive=Drive("op", name, ends), **kw)  # type: ignore[arg-type]


def ending(name: str, doc: str, **kw: object) -> EventDef:
    """A way the main thread leaves its target; the process may end after it."""
    return EventDef(name, "process", "program", doc, drive=Drive("end", name, True), by="main", **kw)  # type: ignore[arg-type]


def signalled(name: str, signal: str, doc: str) -> EventDef:
    """A signal (``SIGTERM``, as the signal module spells it) sent to the process from outside."""
    return EventDef(name, "process", "environment", doc, drive=Drive("signal", signal, True), by="none")


def internal(name: str, doc: str) -> EventDef:
    """The model's own progress: no thread acts, nothing drives it."""
    return EventDef(name, "process", "internal", doc, by="none")


EVENTS = (
    # handle: calls of the Process API, made by a thread of the parent process
    api("start", "Process.start()"),
    api("join", "Process.join() with no timeout; offered only where it returns"),
    api("join_timeout", "Process.join(timeout)"),
    api("is_alive", "Process.is_alive()"),
    api("exitcode", "Process.exitcode"),
    api("pid", "Process.pid"),
    api("sentinel", "Process.sentinel"),
    api("set_daemon", "Process.daemon = value", params=("value",), domains=(BOOL,)),
    api("terminate", "Process.terminate(): SIGTERM", ends=True),
    api("kill", "Process.kill(): SIGKILL", ends=True),
    api("close", "Process.close()"),
    # process: the program inside it, signals from outside, and the exit sequence's own progress
    op("create_child", "process", "Process(target=..., daemon=value); None leaves daemon= out: the creating "
       "process's own flag", params=("daemon",), domains=(DAEMON,)),
    op("create_thread", "process", "threading.Thread(daemon=value); None leaves daemon= out: the creating "
       "thread's own flag", params=("daemon",), domains=(DAEMON,)),
    internal("launch", "the OS process begins (sent by the handle's start())"),
    op("block", "process", "the main thread waits on a primitive", by="main"),
    op("release", "process", "another thread releases the main thread", ends=True, by="control"),
    op("install_sigterm", "process", "signal.signal(SIGTERM, handler) in the main thread", ends=True,
       params=("handler",), domains=(("ignore", "exit"),), by="main"),
    ending("target_return", "the target returns"),
    ending("target_raise", "the target raises an exception"),
    ending("sys_exit", "the target calls sys.exit(arg)", params=("arg",), domains=((None, 2, 256, -1, True, "text"),)),
    ending("os_exit", "the target calls os._exit(n); a non-int n raises TypeError there", params=("n",),
           domains=((0, 3, None),)),
    op("join_current", "process", "current_process().join()", by="main"),
    op("queue_put", "process", "q = Queue(); q.put(more than its pipe holds): its feeder thread starts and blocks "
       "until a reader takes the data"),
    signalled("sigterm", "SIGTERM", "SIGTERM from outside (kill -TERM)"),
    signalled("sigkill", "SIGKILL", "SIGKILL from outside (kill -KILL)"),
    signalled("sigint", "SIGINT", "SIGINT from outside (Ctrl-C)"),
    internal("proceed", "the exit sequence moves to its next phase"),
    internal("reap", "someone other than the handle collects the exit status"),
    EventDef("exit_join", "handle", "internal", "its parent's exit sequence joins it: join() begins, or returns",
             by="none"),
    # thread
    op("thread_start", "thread", "Thread.start()"),
    op("thread_block", "thread", "the thread waits on a primitive", by="self"),
    op("thread_release", "thread", "another thread releases it", ends=True, by="control"),
    op("thread_finish", "thread", "the thread's run() returns", ends=True, by="control"),
    op("cancel_join_thread", "thread", "Queue.cancel_join_thread() on the queue this feeder thread serves", ends=True),
    op("register_atexit", "thread", "threading._register_atexit(callback), the callback releasing this thread"),
)


def handle_rules() -> list[Rule]:
    """Every Process API call in every handle state (docs/semantics.md E1, checked on 3.11 and 3.13)."""
    r: list[Rule] = []

    def add(rid: str, event: str, srcs: str, dst: str | None, out: Outcome, ref: str, **kw: object) -> None:
        r.append(Rule(f"handle.{rid}", "handle", event, tuple(srcs.split()), dst, src(ref), outcome=out, **kw))  # type: ignore[arg-type]

    start = f"{P} BaseProcess.start"
    add("start", "start", "initial", "started", ret("None"), start,
        when=("!parent_daemonic", "!shutdown_refuses_fork"),
        effects=("poll_siblings", "inherit_main_thread", "send:launch"),
        doc="start() launches the OS process; _cleanup() first polls the parent's other children; under fork "
        "the child's main thread is the calling thread's Thread object (threading._after_fork)")
    add("start_refused_at_shutdown", "start", "initial", None,
        err("RuntimeError", "can't fork at interpreter shutdown"),
        "Lib/multiprocessing/popen_fork.py Popen._launch: os.fork(); CPython 3.12 Modules/posixmodule.c "
        "os_fork_impl refuses while the interpreter finalizes; seen with proclife conform on 3.12.1",
        when=("!parent_daemonic", "shutdown_refuses_fork"), effects=("poll_siblings",),
        doc="3.12, fork: a thread of the main program in its exit sequence; _cleanup() has run already")
    add("start_daemonic_parent", "start", "initial", None,
        err("AssertionError", "daemonic processes are not allowed to have children"), start,
        when=("parent_daemonic",))
    add("start_twice", "start", "started stopped", None, TWICE, start)
    add("start_closed", "start", "closed", None, CLOSED, f"{P} BaseProcess._check_closed")

    join = f"{P} BaseProcess.join, {PF} Popen.wait"
    for ev in ("join", "join_timeout"):
        add(f"{ev}_unstarted", ev, "initial", None, NOT_STARTED_JOIN, join)
        add(f"{ev}_stopped", ev, "stopped", None, ret("None"), join)
        add(f"{ev}_closed", ev, "closed", None, CLOSED, join)
    add("join_reaps", "join", "started", "stopped", ret("None"), join,
        when=("proc_terminated",), effects=("reap",),
        doc="join() is only offered where the process ends by itself, or it would wait forever")
    add("join_timeout_reaps", "join_timeout", "started", "stopped", ret("None"), join,
        when=("proc_terminated", "!sentinel_lag"), effects=("reap",))
    add("join_timeout_lags", "join_timeout", "started", None, ret("None"),
        f"{PF} Popen.wait waits on the sentinel; cpython issue 79838",
        when=("proc_terminated", "sentinel_lag"),
        doc="under fork a live descendant holds the sentinel's write end: join(timeout) times out")
    add("join_timeout_alive", "join_timeout", "started", None, ret("None"), join,
        when=("!proc_terminated",))

    poll = f"{P} BaseProcess.is_alive / exitcode, {PF} Popen.poll"
    add("is_alive_initial", "is_alive", "initial", None, ret("False"), poll)
    add("is_alive_running", "is_alive", "started", None, ret("True"), poll, when=("!proc_terminated",))
    add("is_alive_polls", "is_alive", "started", "stopped", ret("False"), poll,
        when=("proc_terminated",), effects=("reap",))
    add("is_alive_stopped", "is_alive", "stopped", None, ret("False"), poll)
    add("exitcode_initial", "exitcode", "initial", None, ret("None"), poll)
    add("exitcode_running", "exitcode", "started", None, ret("None"), poll, when=("!proc_terminated",))
    add("exitcode_polls", "exitcode", "started", "stopped", ret("exitcode"), poll,
        when=("proc_terminated",), effects=("reap",))
    add("exitcode_stopped", "exitcode", "stopped", None, ret("exitcode"), poll)
    for ev in ("is_alive", "exitcode", "pid", "sentinel", "terminate", "kill"):
        add(f"{ev}_closed", ev, "closed", None, CLOSED, f"{P} BaseProcess._check_closed")

    add("pid_initial", "pid", "initial", None, ret("None"), f"{P} BaseProcess.ident")
    add("pid", "pid", "started stopped", None, ret("int"), f"{P} BaseProcess.ident")
    add("sentinel_initial", "sentinel", "initial", None, err("ValueError", "process not started"),
        f"{P} BaseProcess.sentinel")
    add("sentinel", "sentinel", "started stopped", None, ret("int"), f"{P} BaseProcess.sentinel")

    daemon = f"{P} BaseProcess.daemon setter"
    add("set_daemon", "set_daemon", "initial", None, ret("None"), daemon, effects=("set_daemon",))
    add("set_daemon_started", "set_daemon", "started stopped", None, ALREADY_STARTED, daemon)
    add("set_daemon_closed", "set_daemon", "closed", None, ret("None"), daemon,
        effects=("set_daemon",), doc="close() sets _popen to None, so the assertion passes again")

    for ev, sig in (("terminate", "sigterm"), ("kill", "sigkill")):
        ref = f"{P} BaseProcess.{ev}, {PF} Popen._send_signal"
        add(f"{ev}_initial", ev, "initial", None,
            err("AttributeError", f"'NoneType' object has no attribute '{ev}'"), ref)
        add(ev, ev, "started", None, ret("None"), ref, when=("!proc_terminated",), effects=(f"send:{sig}",))
        add(f"{ev}_ended", ev, "started", None, ret("None"), ref, when=("proc_terminated",),
            doc="the signal reaches a zombie, or nothing")
        add(f"{ev}_stopped", ev, "stopped", None, ret("None"), ref, doc="returncode is known: no signal")

    close = f"{P} BaseProcess.close"
    add("close_initial", "close", "initial", "closed", ret("None"), close)
    add("close_running", "close", "started", None, STILL_RUNNING, close, when=("!proc_terminated",))
    add("close_polls", "close", "started", "closed", ret("None"), close,
        when=("proc_terminated",), effects=("reap",))
    add("close_stopped", "close", "stopped", "closed", ret("None"), close)
    add("close_closed", "close", "closed", None, ret("None"), close, doc="a second close() does nothing")

    # The parent's exit sequence joins its children one at a time, in the order of a set (any).
    joins = f"{U} _exit_function: for p in active_children(): p.join(); {P} active_children, _cleanup"
    add("exit_join_begins", "exit_join", "started stopped", None, NOTHING, joins,
        when=("exit_join_next",), effects=("begin_exit_join",),
        doc="list(_children) has set order: the next child joined is any one not joined yet (E9)")
    add("exit_join_returns", "exit_join", "started stopped", "stopped", NOTHING, f"{joins}; {PF} Popen.wait",
        when=("exit_joined",), effects=("end_exit_join", "reap"),
        doc="the join returns once the child has ended, and collects its status; the others wait their turn")
    return r


EXIT_FUNCTION_START = ("poll_children", "sigterm_daemon_children", "await_children")
# The phases of util._exit_function, where an exception raised by a signal handler is caught.
IN_EXIT_FUNCTION = f"{TERMINATE_DAEMONS} {JOIN_CHILDREN} {RUN_FINALIZERS}"


def process_rules() -> list[Rule]:
    """The life of one process: its program, the signals it gets, and its exit sequence."""
    r: list[Rule] = []

    def add(rid: str, event: str, srcs: str, dst: str | None, source: Source, **kw: object) -> None:
        if dst == JOIN_THREADS:  # threading._shutdown() calls the _register_atexit callbacks first
            kw["effects"] = (*kw.get("effects", ()), "run_threading_atexits")  # type: ignore[misc]
        r.append(Rule(f"process.{rid}", "process", event, tuple(srcs.split()), dst, source, **kw))  # type: ignore[arg-type]

    boot = f"{P} BaseProcess._bootstrap"
    add("launch", "launch", "new", "running.runnable",
        src(f"{PF} Popen._launch; signal dispositions across fork and exec (POSIX)"), effects=("inherit_sigterm",),
        doc="the child starts with the parent's SIGTERM disposition as its start method carries it")
    add("create_child", "create_child", "running exiting", None,
        src(f"{P} BaseProcess.__init__: self._config = _current_process._config.copy()"),
        effects=("new_child",), doc="a Process object is built; no OS process yet; without daemon= it takes "
        "the creating process's flag (E10)")
    add("create_thread", "create_thread", "running exiting", None,
        src(f"{TH} Thread.__init__: self._daemonic = current_thread().daemon"),
        effects=("new_thread",), doc="without daemon= it takes the creating thread's flag (E10)")
    add("block", "block", "running.runnable", "running.blocked", seen("agent blocks on an Event"))
    add("release", "release", "running.blocked", "running.runnable", seen("agent's Event is set"))
    add("install_sigterm", "install_sigterm", "running.runnable", None,
        src("Lib/signal.py signal.signal"), effects=("set_handler",))
    add("join_current", "join_current", "running.runnable", None, src(f"{P} BaseProcess.join"),
        outcome=err("AssertionError", "can only join a child process"))
    add("queue_put", "queue_put", "running exiting", None,
        src(f"{Q} Queue.put -> Queue._start_thread: a daemon thread 'QueueFeederThread', Finalize(..., "
            "Queue._finalize_join, exitpriority=-5) unless _joincancelled, Finalize(self, Queue._finalize_close, "
            f"exitpriority=10); {U} _run_finalizers reads the registry once"),
        when=("!shutdown_refuses_threads",), effects=("new_feeder",),
        doc="the feeder is joined by the exit sequence's finalizers unless they have begun already")

    # Ends of the target. A child begins its exit sequence with its daemonic children;
    # the main program with its threads (the interpreter joins them before atexit runs).
    ends: tuple[tuple[str, str, tuple[str, ...], str, Source], ...] = (
        ("target_return", "target_return", (), "code:0", src(f"{boot}: exitcode = 0")),
        ("target_raise", "target_raise", (), "code:1", src(f"{boot}: except: exitcode = 1")),
        ("sys_exit", "sys_exit", (), "code:sys_exit", src(f"{boot}: except SystemExit")),
        # os._exit(3.5), os._exit(None), os._exit(2**31): the call raises in the target, which ends as by a raise.
        ("os_exit_raises", "os_exit", ("!exit_status_int",), "code:1",
         src(f"Modules/posixmodule.c os__exit: its int converter raises TypeError or OverflowError; "
             f"{boot}: except: exitcode = 1")),
    )
    # From 3.13 on a child has the main program's order too (guard atexit_in_child).
    atexit313 = f"{P} BaseProcess._bootstrap (no _exit_function); {PF} Popen._launch: atexit"
    for name, event, arg_guard, code, source in ends:
        add(f"{name}_child", event, "running.runnable", "exiting.terminate_daemon_children", source,
            when=("is_child", "!atexit_in_child", *arg_guard), effects=(code,))
        add(f"{name}_child_atexit", event, "running.runnable", "exiting.join_threads",
            src313(f"{atexit313}; {source.ref.removeprefix('CPython 3.11 ')}"),
            when=("is_child", "atexit_in_child", *arg_guard), effects=(code,),
            doc="threads are joined first, daemonic children terminated and children joined after")
        add(f"{name}_main", event, "running.runnable", "exiting.join_threads",
            src("Python/pylifecycle.c Py_FinalizeEx: wait_for_thread_shutdown, then atexit"),
            when=("is_main", *arg_guard), effects=(code,))
    add("os_exit", "os_exit", "running.runnable", "terminated.zombie",
        src("Modules/posixmodule.c os__exit: no cleanup at all"), when=("exit_status_int",),
        effects=("code:low_byte", "die"),
        doc="threads are not joined, children are neither joined nor terminated")

    # The exit sequence of a child (process.py _bootstrap; util.py _exit_function). _exit_function
    # polls (reaps) the children that have ended, SIGTERMs the live daemonic ones, and awaits the
    # rest; the handles' exit_join rules join those one at a time (E9).
    exitf = f"{U} _exit_function"
    add("child_terminates_daemons", "proceed", "exiting.terminate_daemon_children", "exiting.join_children",
        src(f"{exitf}: active_children() polls the ended children, p._popen.terminate() for the daemonic "
            "others, active_children() again"),
        when=("is_child",), effects=EXIT_FUNCTION_START)
    add("child_joins_children", "proceed", "exiting.join_children", "exiting.join_threads",
        src(f"{exitf}: p.join() for active_children(), _run_finalizers(); {boot}: threading._shutdown()"),
        when=("is_child", "!atexit_in_child", "children_done", "!feeders_to_join"))
    add("child_joins_children_atexit", "proceed", "exiting.join_children", "terminated.zombie",
        src313(f"{exitf} (atexit): p.join() for active_children(), _run_finalizers(); {PF} Popen._launch: "
               "atexit._run_exitfuncs(), os._exit(code)"),
        when=("is_child", "atexit_in_child", "children_done", "!feeders_to_join"), effects=("die",))
    # _run_finalizers() after the joins: a Queue's feeder join (priority -5) waits until the feeder has
    # written what it holds to the pipe, that is until a reader has taken enough of it.
    fin = (f"{exitf}: _run_finalizers() after the joins; {Q} Queue._finalize_join: thread.join(); "
           "Queue._feed writes the buffer to the pipe first")
    add("child_joins_children_to_finalizers", "proceed", "exiting.join_children", RUN_FINALIZERS, src(fin),
        when=("is_child", "!atexit_in_child", "children_done", "feeders_to_join"))
    add("child_joins_children_to_finalizers_atexit", "proceed", "exiting.join_children", RUN_FINALIZERS,
        src313(fin), when=("is_child", "atexit_in_child", "children_done", "feeders_to_join"))
    add("main_joins_children_to_finalizers", "proceed", "exiting.join_children", RUN_FINALIZERS,
        src(f"{fin} (atexit)"), when=("is_main", "children_done", "feeders_to_join"))
    add("child_runs_finalizers", "proceed", RUN_FINALIZERS, "exiting.join_threads",
        src(f"{fin}; {boot}: finally threading._shutdown()"),
        when=("is_child", "!atexit_in_child", "feeders_flushed"), effects=("join_feeders",))
    add("child_runs_finalizers_atexit", "proceed", RUN_FINALIZERS, "terminated.zombie",
        src313(f"{fin}; {PF} Popen._launch: os._exit(code)"),
        when=("is_child", "atexit_in_child", "feeders_flushed"), effects=("join_feeders", "die"))
    add("main_runs_finalizers", "proceed", RUN_FINALIZERS, "terminated.zombie",
        src(f"{fin} (atexit); Python/pylifecycle.c Py_FinalizeEx"),
        when=("is_main", "feeders_flushed"), effects=("join_feeders", "die"))
    add("child_joins_threads", "proceed", "exiting.join_threads", "terminated.zombie",
        src(f"{boot}: finally threading._shutdown(); {PF} os._exit(code)"),
        when=("is_child", "!atexit_in_child", "threads_done"), effects=("die",),
        doc="a child started after the join phase is not waited for: it is orphaned")
    add("child_joins_threads_atexit", "proceed", "exiting.join_threads", "exiting.terminate_daemon_children",
        src313(f"{boot}: finally threading._shutdown(); then atexit runs {exitf}"),
        when=("is_child", "atexit_in_child", "threads_done"),
        doc="a child a thread started while the threads were joined is joined too")
    # The exit sequence of the main program.
    add("main_joins_threads", "proceed", "exiting.join_threads", "exiting.terminate_daemon_children",
        src("Python/pylifecycle.c wait_for_thread_shutdown -> threading._shutdown"),
        when=("is_main", "threads_done"))
    add("main_terminates_daemons", "proceed", "exiting.terminate_daemon_children", "exiting.join_children",
        src(f"{exitf} (atexit): active_children() polls the ended children, terminate daemonic children"),
        when=("is_main",), effects=EXIT_FUNCTION_START)
    add("main_joins_children", "proceed", "exiting.join_children", "terminated.zombie",
        src(f"{exitf} (atexit): join children, _run_finalizers()"),
        when=("is_main", "children_done", "!feeders_to_join"), effects=("die",))

    # Signals. terminate() and kill() send them too.
    sig = "Modules/signalmodule.c; kernel default action"
    add("sigkill", "sigkill", "running exiting", "terminated.zombie", Source(sig, "kernel"),
        effects=("code:-9", "die"))
    add("sigterm_default", "sigterm", "running exiting", "terminated.zombie", Source(sig, "kernel"),
        when=("sigterm_default",), effects=("code:-15", "die"),
        doc="no Python cleanup: threads die, children are orphaned")
    add("sigterm_ignored", "sigterm", "running exiting", None, seen("SIG_IGN: terminate() is a no-op"),
        when=("sigterm_ignore",))
    add("sigterm_handler_exits_child", "sigterm", "running", "exiting.terminate_daemon_children",
        seen("handler calls sys.exit(3): full exit sequence, exitcode 3"),
        when=("sigterm_exit", "is_child", "!atexit_in_child"), effects=("code:3",))
    add("sigterm_handler_exits_child_atexit", "sigterm", "running", "exiting.join_threads",
        seen("handler calls sys.exit(3), Python 3.13: threads joined first, exitcode 3"),
        when=("sigterm_exit", "is_child", "atexit_in_child"), effects=("code:3",))
    add("sigterm_handler_exits_main", "sigterm", "running", "exiting.join_threads",
        seen("handler calls sys.exit(3) in the main program"),
        when=("sigterm_exit", "is_main"), effects=("code:3",))
    add("sigint_child", "sigint", "running", "exiting.terminate_daemon_children",
        src(f"{boot}: KeyboardInterrupt caught by except: -> exitcode 1"),
        when=("is_child", "!atexit_in_child"), effects=("code:1",))
    add("sigint_child_atexit", "sigint", "running", "exiting.join_threads",
        src313(f"{boot}: KeyboardInterrupt caught by except: -> exitcode 1; then threading._shutdown()"),
        when=("is_child", "atexit_in_child"), effects=("code:1",))
    add("sigint_main", "sigint", "running", "exiting.join_threads",
        src("Modules/main.c: unhandled KeyboardInterrupt re-raises SIGINT after finalizing (3.8+)"),
        when=("is_main",), effects=("code:-2",))
    # A SIGTERM handler that exits, or SIGINT, arriving during a child's exit sequence.
    late = f"{boot} (its finally clause); {PF} Popen._launch: code = 1; Lib/multiprocessing/spawn.py spawn_main"
    for event, guard, spawn_code in (("sigterm", "sigterm_exit", "code:3"), ("sigint", None, "code:-2")):
        when = (guard,) if guard else ()
        add(f"{event}_in_exit_function", event, IN_EXIT_FUNCTION,
            "exiting.join_threads", src(f"{boot}: raised in _exit_function, caught, then threading._shutdown()"),
            when=when + ("is_child", "!atexit_in_child"), effects=("code:3" if guard else "code:1",))
        add(f"{event}_in_thread_shutdown", event, "exiting.join_threads", "terminated.zombie", src(late),
            when=when + ("is_child", "!atexit_in_child", "!spawned"), effects=("code:1", "die"),
            doc="raised out of _bootstrap: os._exit(1) at once, threads not joined")
        add(f"{event}_in_thread_shutdown_spawned", event, "exiting.join_threads", "terminated.zombie",
            src(late + "; " + TH + " _shutdown: returns at once once the main thread is stopped"),
            when=when + ("is_child", "!atexit_in_child", "spawned"), effects=(spawn_code, "die"),
            doc="raised out of spawn_main: the interpreter exits at once (its own threading._shutdown()"
            " returns at once), threads not joined; seen: docs/semantics.md E5")
        # 3.13: the exception never leaves _bootstrap; the exit code stays the one the target gave.
        add(f"{event}_in_thread_shutdown_atexit", event, "exiting.join_threads", "exiting.terminate_daemon_children",
            src313("Modules/_threadmodule.c thread_shutdown: an interrupted join is written as unraisable, "
                   f"and returns; then atexit runs {exitf}"),
            when=when + ("is_child", "atexit_in_child"),
            doc="the remaining threads are abandoned, the exit code is unchanged; seen: docs/python-versions.md")
        add(f"{event}_in_exit_function_atexit", event, IN_EXIT_FUNCTION,
            "terminated.zombie",
            src313(f"Modules/atexitmodule.c atexit_callfuncs: the exception in {exitf} is written as "
                   f"unraisable; {PF} Popen._launch: os._exit(code)"),
            when=when + ("is_child", "atexit_in_child"), effects=("die",),
            doc="children not joined yet are orphaned, the exit code is unchanged; seen: docs/python-versions.md")
    # The same exceptions in the main program's exit sequence (its order is 3.13's child order).
    for event, guard in (("sigterm", "sigterm_exit"), ("sigint", None)):
        on_main: tuple[str, ...] = ((guard,) if guard else ()) + ("is_main",)
        add(f"{event}_in_thread_shutdown_main", event, "exiting.join_threads", "exiting.terminate_daemon_children",
            src("Python/pylifecycle.c wait_for_thread_shutdown: the exception is written as unraisable; "
                f"then atexit runs {exitf}"), when=on_main,
            doc="the remaining threads are abandoned, the exit code is unchanged; seen: docs/semantics.md E4")
        add(f"{event}_in_exit_function_main", event, IN_EXIT_FUNCTION,
            "terminated.zombie",
            src(f"Modules/atexitmodule.c atexit_callfuncs: the exception in {exitf} is written as unraisable"),
            when=on_main, effects=("die",),
            doc="children not joined yet are orphaned, the exit code is unchanged; seen: docs/semantics.md E4")
    for event in ("sigterm", "sigkill", "sigint"):
        add(f"{event}_ended", event, "terminated.zombie", None, Source("kill(2) on a zombie or a gone pid", "kernel"))
    add("reap", "reap", "terminated.zombie", "terminated.reaped",
        seen("forkserver reaps its children at once; a subreaper reaps orphans; the shell reaps the main program"),
        when=("reaped_by_other",))
    return r


def thread_rules() -> list[Rule]:
    """The life of a thread other than the main thread."""
    r: list[Rule] = []

    def add(rid: str, event: str, srcs: str, dst: str, ref: str) -> None:
        r.append(Rule(f"thread.{rid}", "thread", event, tuple(srcs.split()), dst, src(ref)))

    r.append(Rule("thread.start", "thread", "thread_start", ("new",), "running.runnable", src(f"{TH} Thread.start"),
                  when=("!shutdown_refuses_threads",)))
    r.append(Rule(
        "thread.start_refused_at_shutdown", "thread", "thread_start", ("new",), None,
        Source("CPython 3.12 Modules/_threadmodule.c thread_PyThread_start_new_thread: interp->finalizing; "
               "tests/test_python_versions.py runs it (3.12.1: RuntimeError; 3.11.7, 3.13.0: started)", "experiment"),
        when=("shutdown_refuses_threads",),
        outcome=err("RuntimeError", "can't create new thread at interpreter shutdown"),
        doc="3.12 only: in the main program past threading._shutdown() (atexit, _exit_function)",
    ))
    def own(rid: str, event: str, srcs: str, dst: str | None, ref: str, **kw: object) -> None:
        r.append(Rule(f"thread.{rid}", "thread", event, tuple(srcs.split()), dst, src(ref), **kw))  # type: ignore[arg-type]

    # A program's own thread; a Queue's feeder thread runs the queue's code only.
    own("block", "thread_block", "running.runnable", "running.blocked", f"{TH} Event.wait / Lock.acquire",
        when=("!feeder",))
    own("release", "thread_release", "running.blocked", "running.runnable", f"{TH} Event.set", when=("!feeder",))
    own("finish", "thread_finish", "running.runnable", "terminated", f"{TH} Thread._bootstrap_inner",
        when=("!feeder",))
    own("feeder_flushed", "thread_release", "running.blocked", "running.runnable",
        f"{Q} Queue._feed: send_bytes returns once a reader has taken the data; the feeder then waits for more",
        when=("feeder",), doc="a reader (Queue.get, in any process) takes what the pipe held")
    own("cancel_join_thread", "cancel_join_thread", "running", None,
        f"{Q} Queue.cancel_join_thread: self._jointhread.cancel()", when=("feeder", "!join_cancelled"),
        effects=("kind:feeder_unjoined",), doc="the exit sequence no longer joins it: what it holds is lost")
    own("register_atexit", "register_atexit", "running", None,
        f"{TH} _register_atexit: raises RuntimeError once _shutdown has begun; _shutdown calls the callbacks "
        "before it joins the threads", when=("!feeder", "!atexit_registered", "threading_up"),
        effects=("kind:atexit",), doc="what ProcessPoolExecutor does to wake its manager thread at exit")
    return r


BASE = Spec(
    name="cpython",
    version="1",
    states=STATES,
    events=EVENTS,
    rules=tuple(handle_rules() + process_rules() + thread_rules()),
    initial={"handle": "initial", "process": "new", "thread": "new"},
    notes=(
        "Threads are also ended by their process's end: effect 'die' marks every thread terminated.",
        "The main program is process 0; it has no handle and starts running.",
    ),
)
