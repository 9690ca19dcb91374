"""The model's state held against each process's own account of its life (its in-process observer).

Two kinds of comparison, both after every step and for every process the run has started:

- **contradictions**: a fact already reported that the model's state rules out: a process the
  model keeps in its target has left it, a process the model keeps in its exit sequence has
  finished it. Nothing is awaited: a fact reported later shows at the step that reads it.
- **expectations**: where the model says a process is blocked in its exit sequence, the process
  must say so too: an exit join of a non-daemon thread in progress (``exiting.join_threads``) or
  an exit join of a child (``exiting.join_children``) or of a Queue's feeder thread
  (``exiting.run_finalizers``). The runner waits for these, bounded, and
  only until they are shown or contradicted. This is what confirms that a process the model
  keeps alive is held where the model says, instead of watching it for a while.

A process whose observer is not installed or could not hook all of its machinery (named in
its ``observer_installed`` fact) is held to contradictions only.

The checks read only each process's ``life``, ``daemon``, ``joining`` and ``parent``, and import
only the standard library, the life-state names and the observer's event types: a reproducer
script carries this file and holds its own run to the same checks (``ModelView``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proclife.model.core.lives import (
    JOIN_CHILDREN,
    JOIN_THREADS,
    REAPED,
    RUN_FINALIZERS,
    is_exiting,
    is_running,
    is_terminated,
)
from proclife.runtime.events import Lifecycle
from proclife.runtime.observer import Event

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    from proclife.model.core.system import System

    class ProcLike(Protocol):
        @property
        def life(self) -> str: ...
        @property
        def daemon(self) -> bool: ...
        @property
        def joining(self) -> bool: ...
        @property
        def running(self) -> bool: ...
        @property
        def exiting(self) -> bool: ...
        @property
        def terminated(self) -> bool: ...

    class Viewed(Protocol):
        """What the checks read of a system: the model's ``System``, or a ``ModelView``."""

        @property
        def procs(self) -> Sequence[ProcLike]: ...
        def children(self, pid: int) -> tuple[int, ...]: ...

EXIT_FUNCTION = "util._exit_function"  # multiprocessing's exit sequence (terminates daemons, joins children)
# The exit step that holds each blocking exit phase: once it has returned, the phase is over.
PHASE_STEP = {JOIN_CHILDREN: EXIT_FUNCTION, RUN_FINALIZERS: EXIT_FUNCTION,
              JOIN_THREADS: "threading._shutdown"}


@dataclass(frozen=True)
class Accounts:
    """Each model process's own account, and the pids that name it on both sides."""

    of: Callable[[int], Lifecycle | None]  # model pid -> what it reported (None: it has no OS process)
    os_pid: Callable[[int], int | None]  # model pid -> its OS pid
    model_pid: Callable[[int], int | None]  # OS pid -> the model pid it is (None: not one of the model's)
    ended: Callable[[int], bool] = lambda pid: False  # model pid -> its agent's connection has closed


class ProcView:
    """One process of ``ModelView``: the fields of the model's ``ProcState`` the checks read."""

    __slots__ = ("daemon", "joining", "life", "parent")

    def __init__(self, life: str, daemon: bool, joining: bool = False, parent: int | None = None) -> None:
        self.life, self.daemon, self.joining, self.parent = life, daemon, joining, parent

    running = property(lambda self: is_running(self.life))
    exiting = property(lambda self: is_exiting(self.life))
    terminated = property(lambda self: is_terminated(self.life))


class ModelView:
    """The model's state as plain data (``ModelView.plain(system)``), rebuilt where the model is absent."""

    def __init__(self, procs: list[dict[str, Any]]) -> None:
        self.procs = [ProcView(**proc) for proc in procs]

    def children(self, pid: int) -> tuple[int, ...]:
        return tuple(i for i, p in enumerate(self.procs) if p.parent == pid)

    @staticmethod
    def plain(system: System) -> list[dict[str, Any]]:
        return [{"life": p.life, "daemon": p.daemon, "joining": p.joining, "parent": p.parent} for p in system.procs]


def _fact(event: Event) -> str:
    details = ", ".join(f"{k}={v!r}" for k, v in event.details.items() if k in ("how", "step", "exitcode", "code",
                                                                                "exception", "caller"))
    return f"{event.kind}({details})" if details else event.kind


def contradictions(system: Viewed, accounts: Accounts) -> list[str]:
    """Facts already reported that the model's state rules out."""
    out: list[str] = []
    for pid, proc in enumerate(system.procs):
        seen = accounts.of(pid)
        if seen is None:
            continue
        out += _wrong_joins(system, pid, seen, accounts)
        out += _daemons_spared(system, pid, seen, accounts)
        out += _unreaped(system, pid, seen, accounts)
        if proc.running and seen.left_target is not None:
            out.append(f"P{pid}: its observer reports {_fact(seen.left_target)}, it has left its target, "
                       f"but the model says it is {proc.life}")
        elif (proc.running or proc.exiting) and seen.finished is not None:
            out.append(f"P{pid}: its observer reports {_fact(seen.finished)}, it has finished, "
                       f"but the model says it is {proc.life}")
        elif proc.life in PHASE_STEP and PHASE_STEP[proc.life] in seen.steps_done:
            out.append(f"P{pid}: its observer reports {PHASE_STEP[proc.life]} returned, "
                       f"but the model says it is still in it ({proc.life})")
    return out


def _wrong_joins(system: Viewed, pid: int, seen: Lifecycle, accounts: Accounts) -> list[str]:
    """Exit joins in progress that the model's state rules out: of a daemonic child its parent never
    signalled (the exit sequence SIGTERMs every live daemonic child before it joins the children,
    util._exit_function), or of a live child other than the one the model says is being joined
    (a join of a child the model has already seen end is old news, not a contradiction)."""
    out = []
    joining = _joining(system, pid)
    for os_pid in (e.get("child") for e in seen.joining_children()):
        child = accounts.model_pid(int(os_pid or 0))
        if child is None:
            continue
        state = system.procs[child]
        if state.daemon and os_pid not in seen.signalled:
            out.append(f"P{pid}: its observer reports its exit sequence joining the daemonic child P{child} "
                       f"without having sent it SIGTERM")
        elif joining is not None and child != joining and not state.terminated:
            out.append(f"P{pid}: its observer reports its exit sequence joining P{child}; the model says P{joining}")
    return out


def _daemons_spared(system: Viewed, pid: int, seen: Lifecycle, accounts: Accounts) -> list[str]:
    """Daemonic children the model says the exit sequence ended, that it returned without signalling
    while they ran on. ``util._exit_function`` SIGTERMs every daemonic child still alive
    (``active_children()`` polls each one), so a child that was running when it began, has not
    ended since and was never signalled shows a broken exit sequence at once, with no wait for
    an end that will not come. Held to children that are quiet by their own account (still in
    their target, their connection open): one ending by itself is not this."""
    done = seen.steps_done.get(EXIT_FUNCTION)
    begun = seen.began.get(EXIT_FUNCTION)
    if done is None or begun is None:
        return []
    out = []
    for child in system.children(pid):
        state, own, os_pid = system.procs[child], accounts.of(child), accounts.os_pid(child)
        if not (state.daemon and state.terminated) or own is None or own.first is None or os_pid is None:
            continue
        quiet = own.left_target is None and own.finished is None and not accounts.ended(child)
        if quiet and os_pid not in seen.signalled and own.first.time < begun.begin:
            out.append(f"P{pid}: its observer reports {EXIT_FUNCTION} returned without sending SIGTERM to its "
                       f"daemonic child P{child}, which is still running; the model says that exit ended it "
                       f"({state.life})")
    return out


def _unreaped(system: Viewed, pid: int, seen: Lifecycle, accounts: Accounts) -> list[str]:
    """Joins that returned an exit code and left the child a zombie, where the model has reaped it
    (a join that returns collects the child's exit status: Popen.wait -> poll -> os.waitpid)."""
    out = []
    for os_pid, joined in seen.unreaped.items():
        child = accounts.model_pid(os_pid)
        if child is not None and system.procs[child].life == REAPED:
            out.append(f"P{pid}: its observer reports its join of P{child} returned (exit code "
                       f"{joined.get('returncode')!r}) with P{child} still a zombie; the model says the join "
                       f"reaped it ({REAPED})")
    return out


def joined_out_of_order(system: Viewed, accounts: Accounts, zombie: Callable[[int, int], bool]) -> list[str]:
    """Children the model says an exit sequence reaped before the child it is joining now, that the
    sequence passed without a join: its account shows the join of that other child begun and none
    of them, and the kernel still holds them (``zombie(child, parent's OS pid)``, read after the
    account). ``util._exit_function`` joins its children one at a time, so such a child
    is reaped only once the join in progress returns: the model's order did not happen, and no
    wait for that reaping can end before the bound. Used to end such a wait, not as a finding."""
    out = []
    for pid in range(len(system.procs)):
        joining, seen, parent = _joining(system, pid), accounts.of(pid), accounts.os_pid(pid)
        if joining is None or seen is None or parent is None or accounts.os_pid(joining) not in {
                int(e.get("child") or 0) for e in seen.joining_children()}:
            continue
        for child in system.children(pid):
            os_pid = accounts.os_pid(child)
            if (system.procs[child].life == REAPED and os_pid is not None and os_pid not in seen.exit_joined
                    and zombie(child, parent)):
                out.append(f"P{pid}: its observer reports its exit sequence joining P{joining} without having "
                           f"joined P{child}, still a zombie; the model says it reaped P{child} first")
    return out


def _joining(system: Viewed, pid: int) -> int | None:
    """The child whose join ``pid``'s exit sequence is in, by the model (None: none named)."""
    return next((c for c in system.children(pid) if system.procs[c].joining), None)


def _shown(system: Viewed, pid: int, seen: Lifecycle, accounts: Accounts) -> bool:
    life = system.procs[pid].life
    if life == JOIN_THREADS:
        return seen.joining_threads()
    if life == RUN_FINALIZERS:
        return seen.joining_feeder()
    if life == JOIN_CHILDREN:
        joins = {int(e.get("child") or 0) for e in seen.joining_children()}
        joining = _joining(system, pid)
        return bool(joins) and (joining is None or accounts.os_pid(joining) in joins)
    return True


def unmet(system: Viewed, accounts: Accounts) -> dict[int, str]:
    """Exit phases the model says a process is blocked in that its observer does not show (yet), by pid."""
    out: dict[int, str] = {}
    for pid, proc in enumerate(system.procs):
        seen = accounts.of(pid)
        if seen is None or not seen.installed or seen.unhooked:
            continue
        if not _shown(system, pid, seen, accounts):
            joining = _joining(system, pid)
            what = ("joining a non-daemon thread" if proc.life == JOIN_THREADS else
                    "joining a Queue's feeder thread" if proc.life == RUN_FINALIZERS else
                    "joining a child" if joining is None else f"joining P{joining}")
            last = "nothing" if seen.last is None else _fact(seen.last)
            out[pid] = (f"P{pid}: the model says it is {proc.life}; its observer did not show it {what} "
                        f"(its last fact: {last})")
    return out


def decided(system: Viewed, accounts: Accounts, ended: Callable[[int], bool]) -> bool:
    """Nothing left to wait for: every expectation met, or a contradiction, or its process gone."""
    if contradictions(system, accounts):
        return True
    return all(ended(pid) for pid in unmet(system, accounts))


def differences(system: Viewed, accounts: Accounts, bound: float) -> list[str]:
    """Everything the accounts show against ``system`` once the wait for them is over: contradicting
    facts, and expectations still unmet (awaited the whole ``bound`` only where nothing contradicted)."""
    found = contradictions(system, accounts)
    how = "not awaited further: a contradiction decided the step" if found else f"awaited up to {bound}s"
    return found + [f"{why}, {how}" for why in unmet(system, accounts).values()]
