"""A research extension: SIGSTOP and SIGCONT from outside, a process state ``stopped``.

SIGSTOP stops every thread of a running process; SIGCONT lets them run on. While it is
stopped the kernel holds a SIGTERM pending (default action or a Python handler alike): the
process dies with -15 (or runs its handler) only once SIGCONT arrives; SIG_IGN discards it.
SIGKILL kills a stopped process at once. Nothing of this is in the base model, and writing
it touches no file of proclife: the states, events (with the signal the runtime sends), rules,
the Promela form of its guard, a fairness assumption, a scope and an invariant are all here.

    proclife conform --extend examples.stopped:EXTENSION --impl fork
    proclife explore --extend examples.stopped:EXTENSION --scope stop --procs 1 --threads 1 --check spin
    proclife diagrams --extend examples.stopped:EXTENSION
"""

from __future__ import annotations

from dataclasses import replace

from proclife.model.core.base import RUNNABLE, ZOMBIE
from proclife.model.core.checks import Fairness, StateInvariant
from proclife.model.core.extend import Extension, ScopeDef
from proclife.model.core.semantics import Ctx
from proclife.model.core.spec import Drive, EventDef, Rule, Source, StateDef
from proclife.model.core.system import System
from proclife.model.spin.promela import NOCODE, SIGTERM, Gen, Where

KERNEL = "signal(7); kernel/signal.c"
STOPPED = "stopped"
QUIET = "stopped.quiet"
PENDING = "stopped.sigterm_pending"


def _kernel(why: str) -> Source:
    return Source(f"{KERNEL}: {why}; seen with proclife conform --extend examples.stopped:EXTENSION", "kernel")


def sigterm_held(system: System, ctx: Ctx) -> bool:
    """SIGTERM is held pending in a stopped process unless it is ignored (SIG_IGN discards it at once)."""
    return system.procs[ctx.action.pid].sigterm != "ignore"


def sigterm_held_pml(g: Gen, w: Where) -> str:
    """The same over SPIN's state vector: ``sigterm[p]`` holds the disposition's number."""
    return f"(sigterm[{w.pid}] != {SIGTERM['ignore']})"


def never_stopped_with_code(system: System) -> bool:
    """A stopped process has not ended: it has no exit status yet."""
    return all(p.exitcode is None for p in system.procs if p.life.startswith(STOPPED))


def never_stopped_with_code_pml(g: Gen) -> str:
    """The same over SPIN's state vector: ``g.n`` processes, ``life[p]`` and ``exitcode[p]`` of each."""
    return " && ".join(f"(!{g.is_in(f'life[{p}]', 'process', (STOPPED,))} || exitcode[{p}] == {NOCODE})"
                       for p in range(g.n))


def _signal(name: str, signal: str, doc: str) -> EventDef:
    return EventDef(name, "process", "environment", doc, drive=Drive("signal", signal), by="none")


EXTENSION = Extension(
    name="stopped",
    doc="SIGSTOP stops a running process, SIGCONT lets it run on; a SIGTERM waits for SIGCONT",
    states=(
        StateDef("process", STOPPED, "stopped by SIGSTOP: no thread of it runs"),
        StateDef("process", QUIET, "stopped, no signal pending"),
        StateDef("process", PENDING, "stopped with a SIGTERM pending, delivered at SIGCONT"),
    ),
    events=(
        _signal("sigstop", "SIGSTOP", "SIGSTOP from outside (kill -STOP)"),
        _signal("sigcont", "SIGCONT", "SIGCONT from outside (kill -CONT)"),
    ),
    rules=(
        Rule("process.sigstop", "process", "sigstop", (RUNNABLE,), QUIET, _kernel("SIGSTOP stops every thread"),
             doc="only a runnable process is stopped here: stopping it elsewhere would need a stopped state per phase"),
        Rule("process.sigstop_stopped", "process", "sigstop", (STOPPED,), None, _kernel("a stopped process stays so")),
        Rule("process.sigcont", "process", "sigcont", (QUIET,), RUNNABLE, _kernel("SIGCONT resumes every thread")),
        Rule("process.sigcont_delivers_sigterm", "process", "sigcont", (PENDING,), RUNNABLE,
             _kernel("the pending SIGTERM is delivered once the process runs"), effects=("send:sigterm",),
             doc="continued, the process takes the SIGTERM as a running one does: -15, or its handler"),
        Rule("process.sigterm_stopped", "process", "sigterm", (QUIET,), PENDING,
             _kernel("a signal other than SIGKILL and SIGCONT waits while the process is stopped"),
             when=("sigterm_held",)),
        Rule("process.sigterm_pending", "process", "sigterm", (PENDING,), None,
             _kernel("a standard signal does not queue: a second SIGTERM adds nothing to the one pending")),
        Rule("process.sigterm_stopped_ignored", "process", "sigterm", (QUIET,), None,
             _kernel("an ignored signal is discarded when it is sent"), when=("!sigterm_held",)),
        Rule("process.sigkill_stopped", "process", "sigkill", (STOPPED,), ZOMBIE,
             _kernel("SIGKILL wakes a stopped process and kills it"), effects=("code:-9", "die")),
    ),
    guards={"sigterm_held": sigterm_held},
    guard_forms={"sigterm_held": sigterm_held_pml},
    invariants=(StateInvariant("stopped_has_no_exitcode", KERNEL, "a stopped process has no exit status",
                               never_stopped_with_code, promela=never_stopped_with_code_pml),),
    fairness=(Fairness("sigcont", "everything_can_end",
                       "whoever stops a process continues it: a process stopped for good never ends, and the "
                       "research question is what happens once it runs on"),),
    scopes=(ScopeDef("stop", "a child started, stopped, continued, signalled (SIGTERM, SIGKILL), ending or joined",
                     offers=("create_child", "create_thread", "thread_start", "thread_finish", "start", "join",
                             "is_alive", "terminate", "kill", "target_return", "sigstop", "sigcont", "sigterm",
                             "install_sigterm"),
                     args={"create_child": (False,), "install_sigterm": ("ignore",)}),),
    source=Source("examples/stopped.py", "extension"),
)

# The same extension without its fairness assumption: a process stopped for good never ends, and
# the liveness check says so (exit status 1), naming the shortest path to such a state.
UNFAIR = replace(EXTENSION, name="stopped_unfair", fairness=())
