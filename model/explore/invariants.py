"""Invariants, bounded liveness and known dead ends, declared as data beside the model.

The kinds of check are declared in ``model/core/checks.py``, so that an extension can add its own.
Each check carries its source (a CPython function or an experiment) so that a violation
reads as "the model disagrees with X", not as an opaque assertion. Findings are dead ends
real Python has: the explorer reports a stuck state they match as a finding, not a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from proclife.model.core.base import BLOCKED, JOIN_CHILDREN, JOIN_THREADS, RUN_FINALIZERS
from proclife.model.core.checks import Finding, Liveness, StateInvariant, StepInvariant
from proclife.model.core.engine import Transition
from proclife.model.core.errors import ExtensionError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import MAIN_PAST_THREAD_SHUTDOWN, Action
from proclife.model.core.spec import EventDef, Spec
from proclife.model.core.system import MAIN, Config, ProcState, System

P = "CPython 3.11 Lib/multiprocessing/process.py"
U = "CPython 3.11 Lib/multiprocessing/util.py"


# --- state invariants ------------------------------------------------------------------


def terminated_has_exitcode(system: System) -> bool:
    return all(p.exitcode is not None for p in system.procs if p.terminated)


def orphans_exact(system: System) -> bool:
    """Orphan <=> a launched, live child whose parent has terminated (the flag stays after it ends)."""
    for p in system.procs:
        if p.parent is None:
            if p.orphan:
                return False
            continue
        parent_dead = system.procs[p.parent].terminated
        if p.orphan and not parent_dead:
            return False
        if parent_dead and p.life != "new" and not p.terminated and not p.orphan:
            return False
    return True


# --- step invariants -------------------------------------------------------------------

CLOSED_CALLS_ALLOWED = ("close", "set_daemon")


def closed_handle_inert(before: System, action: Action, t: Transition) -> bool:
    """A call on a closed handle raises ValueError or leaves the system as it was (close, set_daemon)."""
    if action.pid >= len(before.procs) or before.procs[action.pid].handle != "closed":
        return True
    if t.observed.startswith("ValueError"):
        return t.system == before
    if action.event not in CLOSED_CALLS_ALLOWED:
        return False
    after = t.system.procs[action.pid]
    return t.system == before.update(action.pid, daemon=after.daemon)


def live_non_daemon(proc: ProcState) -> bool:
    return any(not th.daemon and th.life.startswith("running") for th in proc.threads)


def exit_sequence_joined(before: System, action: Action, t: Transition) -> bool:
    """The exit sequence leaves its thread join only once every non-daemon thread has ended, and
    its children join only once every child it awaits has ended (a signal may cut either short)."""
    if action.event != "proceed":
        return True
    old, new = before.procs[action.pid].life, t.system.procs[action.pid].life
    if new == old:
        return True
    if old == JOIN_THREADS:
        return not live_non_daemon(before.procs[action.pid])
    if old == JOIN_CHILDREN:
        return all(before.procs[c].terminated for c in before.children(action.pid) if before.procs[c].awaited)
    if old == RUN_FINALIZERS:
        return not any(th.kind == "feeder" and th.life == BLOCKED for th in before.procs[action.pid].threads)
    return True


def no_thread_outlives_join(before: System, action: Action, t: Transition) -> bool:
    """A process whose exit sequence ends after its thread join leaves no non-daemon thread alive."""
    if action.event != "proceed" or not t.system.procs[action.pid].terminated:
        return True
    proc = before.procs[action.pid]
    return proc.life == JOIN_THREADS or not live_non_daemon(proc)


# --- liveness --------------------------------------------------------------------------


def all_started_terminated(system: System) -> bool:
    return all(p.life == "new" or p.terminated for p in system.procs)


def by_itself(event: EventDef) -> bool:
    """A program action a process takes by itself: its target ends, or one of its threads is
    released or finishes; never a call on another process's handle or a signal."""
    return event.drive is not None and (event.drive.how == "end" or event.by == "control")


# --- findings --------------------------------------------------------------------------


def daemon_holds_exit(system: System, pid: int) -> bool:
    """``pid`` is a live daemonic child that ignores SIGTERM, awaited by its parent's children join."""
    proc = system.procs[pid]
    return (
        proc.parent is not None and proc.awaited and proc.daemon and proc.sigterm == "ignore"
        and not proc.terminated and system.procs[proc.parent].life == JOIN_CHILDREN
    )


def held_by_daemon(system: System, pid: int) -> bool:
    """``pid`` is such a daemon, or waits in its children join on an awaited child that is held by one."""
    if daemon_holds_exit(system, pid):
        return True
    return system.procs[pid].life == JOIN_CHILDREN and any(
        held_by_daemon(system, c) for c in system.children(pid)
        if system.procs[c].awaited and not system.procs[c].terminated
    )


def _daemon_ignoring_sigterm_holds_parent(system: System, pid: int | None, config: Config) -> bool:
    """The stuck process (``pid``; every started, unended one for a stuck state) is held by the daemon.

    Only what the daemon explains is excused: another process stuck for another reason beside
    it is still a violation.
    """
    pids = range(len(system.procs)) if pid is None else (pid,)
    return all(
        held_by_daemon(system, p) for p in pids if system.procs[p].life != "new" and not system.procs[p].terminated
    )


def past_thread_join(system: System, pid: int, config: Config) -> bool:
    """``pid`` has left its thread join for the phases after it.

    The main program, and from 3.13 every child, joins its threads before ``_exit_function``
    (terminate daemonic children, join children); 3.11 and 3.12 children join them last.
    """
    if pid != MAIN and not config.traits.children_exit_like_main:
        return False
    return system.procs[pid].life in MAIN_PAST_THREAD_SHUTDOWN


def _thread_outlives_thread_join(system: System, pid: int | None, config: Config) -> bool:
    """The process is past its thread join and a non-daemon thread of it is alive."""
    pids = range(len(system.procs)) if pid is None else (pid,)
    return any(
        past_thread_join(system, p, config)
        and any(not t.daemon and t.life.startswith("running") for t in system.procs[p].threads)
        for p in pids
    )


STATE_INVARIANTS: tuple[StateInvariant, ...] = (
    StateInvariant(
        "terminated_has_exitcode", f"{P} BaseProcess.exitcode; Popen.poll",
        "a terminated process has an exit code", terminated_has_exitcode,
    ),
    StateInvariant(
        "orphans_exact", "kernel: exit(2) re-parents the live children to the subreaper or init; docs/semantics.md E3, E4",
        "orphans are exactly the live children of a terminated parent", orphans_exact,
    ),
)

STEP_INVARIANTS: tuple[StepInvariant, ...] = (
    StepInvariant(
        "closed_handle_inert", f"{P} BaseProcess._check_closed, BaseProcess.close",
        "a closed handle accepts no call except close() and daemon=", closed_handle_inert,
    ),
    StepInvariant(
        "exit_sequence_joined", f"{P} BaseProcess._bootstrap; {U} _exit_function; threading._shutdown",
        "the exit sequence leaves its thread join only once every non-daemon thread has ended, and its "
        "children join only once every awaited child has ended, and its finalizers only once every feeder "
        "thread they join has written what it held", exit_sequence_joined,
    ),
    StepInvariant(
        "no_thread_outlives_join", "CPython 3.11 Lib/threading.py _shutdown; Python/pylifecycle.c Py_FinalizeEx",
        "a process whose exit sequence ends after its thread join leaves no non-daemon thread alive",
        no_thread_outlives_join,
    ),
)

LIVENESS: tuple[Liveness, ...] = (
    Liveness(
        "everything_can_end", f"{P} BaseProcess._bootstrap; {U} _exit_function",
        "program actions alone (targets end, threads finish, blocks are released) and internal steps "
        "cannot run forever, and wherever they stop every started process has terminated: so from "
        "every reachable system, every started process can terminate by them",
        all_started_terminated, by_itself,
    ),
)

FINDINGS: tuple[Finding, ...] = (
    Finding(
        "daemon_ignores_sigterm", "everything_can_end",
        f"experiment (docs/semantics.md E8); {U} _exit_function joins daemonic children too",
        "a daemonic child that ignores SIGTERM and never ends its target holds its parent's exit "
        "sequence forever: _exit_function terminates it, then joins it",
        _daemon_ignoring_sigterm_holds_parent,
    ),
    Finding(
        "thread_outlives_thread_join", "no_thread_outlives_join",
        "CPython 3.11 Lib/threading.py _shutdown joins the threads alive when it runs, and nothing joins "
        "again; an exception in it is written as unraisable (Python/pylifecycle.c wait_for_thread_shutdown; "
        "3.13 Modules/_threadmodule.c thread_shutdown). tests/test_python_versions.py: a thread started "
        "then is not joined on 3.11.7 and 3.13.0 (3.12.1 refuses it); docs/python-versions.md: SIGINT "
        "during a 3.13 child's thread join abandons the threads",
        "a non-daemon thread outlives its process's thread join: a daemon thread started it after the join, "
        "or a signal's exception interrupted the join; nobody joins it, it dies with its process",
        _thread_outlives_thread_join,
    ),
)


def closed_rules_ok(spec: Spec) -> list[str]:
    """Rule-level form of closed_handle_inert: every rule from 'closed' raises ValueError or is a no-op."""
    bad = []
    for rule in spec.rules_of("handle"):
        if "closed" not in {leaf for s in rule.src for leaf in spec.expand("handle", s)}:
            continue
        raises = rule.outcome.raises
        if raises and raises[0] == "ValueError" and rule.dst is None and not rule.effects:
            continue
        allowed = rule.event in CLOSED_CALLS_ALLOWED and rule.dst in (None, "closed") and not raises
        if allowed and set(rule.effects) <= {"set_daemon"}:
            continue
        bad.append(rule.id)
    return bad


@dataclass(frozen=True)
class Checks:
    """Every check one model is held to: the base model's, then its extensions', fairness applied."""

    state: tuple[StateInvariant, ...]
    step: tuple[StepInvariant, ...]
    liveness: tuple[Liveness, ...]
    findings: tuple[Finding, ...]

    def names(self) -> tuple[str, ...]:
        """The names of every check, in the order summaries list them."""
        return tuple([c.name for c in self.state] + [c.name for c in self.step] + [c.name for c in self.liveness])


def checks_of(model: Model) -> Checks:
    """The base checks and ``model``'s own; a finding or a fairness assumption must name one of them."""
    state = STATE_INVARIANTS + tuple(c for c in model.invariants if isinstance(c, StateInvariant))
    step = STEP_INVARIANTS + tuple(c for c in model.invariants if isinstance(c, StepInvariant))
    liveness = LIVENESS + model.liveness
    names = [c.name for c in state] + [c.name for c in step] + [c.name for c in liveness]
    for name in names:
        if names.count(name) > 1:
            raise ExtensionError(f"two checks are named {name!r}; an extension's check needs a name of its own")
    fair = {live.name: frozenset(f.event for f in model.fairness if f.liveness == live.name) for live in liveness}
    for f in model.fairness:
        if f.liveness not in fair:
            raise ExtensionError(f"fairness for {f.event!r} names liveness check {f.liveness!r}; name one of "
                                 f"{', '.join(map(repr, fair))}")
    for finding in model.findings:
        if finding.invariant not in names:
            raise ExtensionError(f"finding {finding.name!r} excuses {finding.invariant!r}, which is no check; name "
                                 f"one of {', '.join(map(repr, names))}")
    return Checks(state, step, tuple(replace(live, fair=live.fair | fair[live.name]) for live in liveness),
                  FINDINGS + model.findings)
