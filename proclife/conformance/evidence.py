"""The model's state held against each process's own account of its life (its in-process observer).

Two kinds of comparison, both after every step and for every process the run has started:

- **contradictions**: a fact already reported that the model's state rules out: a process the
  model keeps in its target has left it, a process the model keeps in its exit sequence has
  finished it. Nothing is awaited: a fact reported later shows at the step that reads it.
- **expectations**: where the model says a process is blocked in its exit sequence, the process
  must say so too: an exit join of a non-daemon thread in progress (``exiting.join_threads``) or
  an exit join of a child (``exiting.join_children``). The runner waits for these, bounded, and
  only until they are shown or contradicted. This is what confirms that a process the model
  keeps alive is held where the model says, instead of watching it for a while.

A process whose observer is not installed or could not hook all of its machinery (named in
its ``observer_installed`` fact) is held to contradictions only.
"""

from __future__ import annotations

from collections.abc import Callable

from proclife.model.core.base import JOIN_CHILDREN, JOIN_THREADS
from proclife.model.core.system import ProcState, System
from proclife.runtime.events import Lifecycle
from proclife.runtime.observer import Event

Account = Callable[[int], Lifecycle | None]  # model pid -> what that process reported (None: no OS process)
Identify = Callable[[int], int | None]  # an OS pid -> the model pid it is (None: not a process of the model)


def _fact(event: Event) -> str:
    details = ", ".join(f"{k}={v!r}" for k, v in event.details.items() if k in ("how", "step", "exitcode", "code",
                                                                                "exception", "caller"))
    return f"{event.kind}({details})" if details else event.kind


def contradictions(system: System, account: Account, identify: Identify = lambda _pid: None) -> list[str]:
    """Facts already reported that the model's state rules out."""
    out: list[str] = []
    for pid, proc in enumerate(system.procs):
        seen = account(pid)
        if seen is None:
            continue
        out += _wrong_joins(system, pid, seen, identify)
        if proc.running and seen.left_target is not None:
            out.append(f"P{pid}: its observer reports {_fact(seen.left_target)}, it has left its target, "
                       f"but the model says it is {proc.life}")
        elif (proc.running or proc.exiting) and seen.finished is not None:
            out.append(f"P{pid}: its observer reports {_fact(seen.finished)}, it has finished, "
                       f"but the model says it is {proc.life}")
    return out


def _wrong_joins(system: System, pid: int, seen: Lifecycle, identify: Identify) -> list[str]:
    """An exit join in progress of a daemonic child its parent never signalled: the exit sequence
    SIGTERMs every live daemonic child before it joins the children (util._exit_function)."""
    out = []
    for os_pid, join in seen.child_joins.items():
        if join.get("timeout") is not None or "util._exit_function" not in seen.steps or os_pid in seen.signalled:
            continue
        child = identify(os_pid)
        if child is not None and system.procs[child].daemon:
            out.append(f"P{pid}: its observer reports its exit sequence joining the daemonic child P{child} "
                       f"without having sent it SIGTERM")
    return out


def _shown(proc: ProcState, seen: Lifecycle) -> bool:
    if proc.life == JOIN_THREADS:
        return seen.joining_threads()
    if proc.life == JOIN_CHILDREN:
        return bool(seen.joining_children())
    return True


def unmet(system: System, account: Account) -> dict[int, str]:
    """Exit phases the model says a process is blocked in that its observer does not show (yet), by pid."""
    out: dict[int, str] = {}
    for pid, proc in enumerate(system.procs):
        seen = account(pid)
        if seen is None or not seen.installed or seen.unhooked:
            continue
        if not _shown(proc, seen):
            what = "joining a non-daemon thread" if proc.life == JOIN_THREADS else "joining a child"
            last = "nothing" if seen.last is None else _fact(seen.last)
            out[pid] = (f"P{pid}: the model says it is {proc.life}; its observer did not show it {what} "
                        f"(its last fact: {last})")
    return out


def decided(system: System, account: Account, ended: Callable[[int], bool],
            identify: Identify = lambda _pid: None) -> bool:
    """Nothing left to wait for: every expectation met, or a contradiction, or its process gone."""
    if contradictions(system, account, identify):
        return True
    return all(ended(pid) for pid in unmet(system, account))
