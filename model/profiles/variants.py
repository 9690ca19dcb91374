"""The profiles: how each implementation of the multiprocessing API departs from CPython's.

Every deviation is an ``Extension`` built from the base rules it changes (read from
``BASE`` by id, never retyped) and carries the evidence for it: the implementation's code,
or the conformance run that showed it. ``proclife conform --impl billiard --profile cpython``
reproduces each one as a disagreement; the tests show that each is needed.
"""

from __future__ import annotations

from dataclasses import replace

from proclife.model.core.base import BASE
from proclife.model.core.extend import Extension
from proclife.model.core.semantics import Branches, Ctx, base_semantics, one
from proclife.model.core.spec import Outcome, Rule, Source
from proclife.model.core.system import System
from proclife.model.profiles.profile import Deviation, Profile

SEEN = "proclife conform --impl billiard --profile cpython (billiard 4.3, Python 3.11)"


def _seen(what: str) -> Source:
    return Source(f"{what}; {SEEN}", "experiment")


def _rule(rule_id: str, **changes: object) -> Rule:
    return replace(BASE.rule(rule_id), **changes)  # type: ignore[arg-type]


def _deviation(ident: str, doc: str, source: Source, **parts: object) -> Deviation:
    return Deviation(ident, doc, source, Extension(name=ident, doc=doc, source=source, **parts))  # type: ignore[arg-type]


# --- python -O: every `assert` of multiprocessing/process.py disappears ------------------

O_SOURCE = "CPython 3.11 Lib/multiprocessing/process.py: these checks are assert statements"
NO_WAIT = Outcome(raises=("AttributeError", "'NoneType' object has no attribute 'wait'"))

CPYTHON_O = Profile(
    "cpython-O",
    "The standard library run with `python -O`: the assertions that refuse illegal calls are gone.",
    (
        _deviation(
            "O.daemonic_parent", "a daemonic process may start children", Source(f"{O_SOURCE} (start)"),
            rules=(_rule("handle.start", when=()),), remove=("handle.start_daemonic_parent",),
        ),
        _deviation(
            "O.join_unstarted", "join() before start() fails inside Popen.wait, not on an assertion",
            Source(f"{O_SOURCE} (join: self._popen.wait on None)"),
            rules=(_rule("handle.join_unstarted", outcome=NO_WAIT), _rule("handle.join_timeout_unstarted", outcome=NO_WAIT)),
        ),
        _deviation(
            "O.set_daemon_started", "daemon can be changed on a started process",
            Source(f"{O_SOURCE} (daemon setter)"),
            rules=(_rule("handle.set_daemon_started", outcome=Outcome(returns="None"), effects=("set_daemon",)),),
        ),
        _deviation(
            "O.join_current", "current_process().join() fails inside Popen.wait",
            Source(f"{O_SOURCE} (join: the current process has no _popen)"),
            rules=(_rule("process.join_current", outcome=NO_WAIT),),
        ),
        _deviation(
            "O.start_twice", "a second start() launches a second OS process the handle then forgets; "
            "proclife does not model a process without a handle, so the call is not offered",
            Source(f"{O_SOURCE} (start: assert self._popen is None)"),
            remove=("handle.start_twice",),
        ),
    ),
)


# --- billiard ---------------------------------------------------------------------------


def _method_is(method: str):  # type: ignore[no-untyped-def]
    def guard(system: System, ctx: Ctx) -> bool:
        return ctx.config.start_method == method

    guard.__doc__ = f"The run uses the {method} start method."
    return guard


CLASS_OF = {"fork": "ForkProcess", "spawn": "SpawnProcess", "forkserver": "ForkServerProcess"}
KILL_RULES = ("handle.kill_initial", "handle.kill", "handle.kill_ended", "handle.kill_stopped", "handle.kill_closed")


def _billiard_sys_exit(system: System, ctx: Ctx, _arg: str | None) -> Branches:
    """billiard's _bootstrap: sys.exit() and sys.exit(None) give 1, a non-int argument 0."""
    arg = ctx.action.arg
    if arg is None:
        value = 1
    elif isinstance(arg, int):
        value = int(arg) & 0xFF
    else:
        value = 0
    return one(system.update(ctx.action.pid, code=value))


def _billiard_signal_code(system: System, ctx: Ctx, arg: str | None) -> Branches:
    """Under billiard's forkserver a child killed by a signal reports 255, not minus the signal."""
    forkserver_child = ctx.config.start_method == "forkserver" and system.procs[ctx.action.pid].parent is not None
    return one(system.update(ctx.action.pid, code=255 if forkserver_child else int(str(arg))))


def _not_joined_after_run(system: System, ctx: Ctx) -> bool:
    """Threads are joined only where the interpreter itself shuts down (spawn)."""
    guard = base_semantics().guards["threads_done"]
    return ctx.config.start_method != "spawn" or guard(system, ctx)


def _billiard_new_feeder(system: System, ctx: Ctx, arg: str | None) -> Branches:
    """billiard registers a feeder's join only where the queue was not created: never for a put into a
    queue the same process made (queue_put's Queue())."""
    ((after, _),) = base_semantics().effects["new_feeder"](system, ctx, arg)
    pid = ctx.action.pid
    threads = after.procs[pid].threads
    return one(after.update(pid, threads=(*threads[:-1], threads[-1]._replace(kind="feeder_unjoined"))))


BILLIARD = Profile(
    "billiard",
    "Celery's fork of multiprocessing.",
    (
        _deviation(
            "billiard.no_kill", "Process has no kill() method",
            _seen("billiard/process.py BaseProcess defines terminate() only"),
            rules=tuple(
                Rule(f"handle.kill_missing_{method}", "handle", "kill", ("initial", "started", "stopped", "closed"),
                     None, _seen("AttributeError from attribute lookup"), when=(f"billiard_{method}",),
                     outcome=Outcome(raises=("AttributeError", f"'{cls}' object has no attribute 'kill'")))
                for method, cls in CLASS_OF.items()
            ),
            remove=KILL_RULES,
            guards={f"billiard_{m}": _method_is(m) for m in CLASS_OF},
        ),
        _deviation(
            "billiard.daemonic_parent", "a daemonic process may start children",
            _seen("billiard/process.py BaseProcess.start has no daemonic check"),
            rules=(_rule("handle.start", when=()),), remove=("handle.start_daemonic_parent",),
        ),
        _deviation(
            "billiard.threads_not_joined", "after run() a child does not join its non-daemon threads "
            "(under spawn the interpreter's own shutdown still does)",
            _seen("billiard/process.py _bootstrap has no threading._shutdown()"),
            rules=(_rule("process.child_joins_threads", when=("is_child", "billiard_threads_released")),),
            # billiard's own _bootstrap keeps this order on every Python: not 3.13's atexit one
            guards={"billiard_threads_released": _not_joined_after_run, "atexit_in_child": lambda s, c: False},
        ),
        _deviation(
            "billiard.children_left", "a child's exit sequence neither polls, terminates nor joins its children: "
            "the ended ones stay zombies and the live ones are orphaned when it ends",
            _seen("billiard/process.py _bootstrap calls multiprocessing.util._exit_function, whose "
                  "active_children() lists multiprocessing's children only"),
            # Nothing is put on the join list, so the handles' exit_join rules never fire (E9).
            rules=(_rule("process.child_terminates_daemons", effects=()),),
        ),
        _deviation(
            "billiard.main_leaves_children", "the main program neither polls, terminates nor joins billiard "
            "children: it ends at once and the live ones are orphaned",
            _seen("multiprocessing's atexit handler (util._exit_function) does not know billiard children"),
            rules=(_rule("process.main_terminates_daemons", effects=()),),
        ),
        _deviation(
            "billiard.creator_feeder_unjoined", "a Queue's feeder thread is not joined at exit in the process "
            "that created the Queue: what it holds is lost, the process does not wait for a reader",
            _seen("billiard/queues.py Queue._start_thread: Finalize(..., _finalize_join) only if not "
                  "created_by_this_process (the standard library dropped that condition); docs/semantics.md E11"),
            rules=(_rule("process.queue_put", effects=("billiard_new_feeder",)),),
            effects={"billiard_new_feeder": _billiard_new_feeder},
        ),
        _deviation(
            "billiard.forkserver_signal_code", "under forkserver, a child ended by a signal reports exit code 255",
            Source("proclife conform --impl billiard/forkserver: terminate() then exitcode gives 255", "experiment"),
            rules=(
                _rule("process.sigterm_default", effects=("billiard_signal_code:-15", "die")),
                _rule("process.sigkill", effects=("billiard_signal_code:-9", "die")),
            ),
            effects={"billiard_signal_code": _billiard_signal_code},
        ),
        _deviation(
            "billiard.sys_exit_codes", "sys.exit() and sys.exit(None) give exit code 1, sys.exit('text') 0",
            _seen("billiard/process.py _bootstrap: `if not e.args: exitcode = 1`"),
            rules=(_rule("process.sys_exit_child", effects=("billiard_sys_exit",)),),
            effects={"billiard_sys_exit": _billiard_sys_exit},
        ),
    ),
    implementations=("billiard",),
)

CPYTHON = Profile(
    "cpython",
    "CPython's standard library multiprocessing: the base model, no deviations.",
    implementations=("fork", "spawn", "forkserver"),
)
MULTIPROCESS = Profile(
    "multiprocess",
    "The dill-based fork of the standard library: no departure found.",
    implementations=("multiprocess",),
)

PROFILES: tuple[Profile, ...] = (CPYTHON, CPYTHON_O, MULTIPROCESS, BILLIARD)
