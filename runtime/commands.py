"""What the runtime does for a model action, derived from the event's ``drive`` and ``by`` in the spec.

Pure: no process is touched here. ``command_for`` builds the command an agent is sent,
``signal_number`` the signal the driver sends itself, and ``check_performable`` refuses,
before anything runs, a model with an event the runtime (the agent's operations, the
signal module) cannot perform.
"""

from __future__ import annotations

import signal

from proclife.model.core.actors import may_act
from proclife.model.core.engine import acting_thread
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.spec import Drive, EventDef, Spec
from proclife.model.core.system import System
from proclife.model.core.values import thaw
from proclife.runtime.agent import CALLS, END_EVENTS, OPERATIONS
from proclife.runtime.errors import HarnessError, UnperformableError
from proclife.runtime.protocol import Message


def drive_of(event: EventDef, action: Action) -> Drive:
    """The event's drive; a model-only event cannot be run."""
    if event.drive is None:
        raise HarnessError(f"{action.describe()}: the event is model-only (drive=None); it cannot be run")
    return event.drive


def signal_number(drive: Drive) -> int:
    """The number of the signal a ``signal`` drive names (``SIGUSR1`` -> 10 on Linux)."""
    try:
        return int(signal.Signals[drive.name])
    except KeyError:
        raise UnperformableError(f"no signal is named {drive.name!r} on this system") from None


def thread_for(before: System, pid: int, by: str, action: Action) -> str | int:
    """The thread of ``pid`` that performs the action: the one the path names, else the one ``acting_thread`` picks."""
    if action.actor is not None:
        if not may_act(before, pid, by, action.actor):
            raise HarnessError(f"{action.describe()}: that thread of P{pid} cannot act (the model does not allow it)")
        return action.actor
    thread = acting_thread(before, pid, by)
    if thread is None:
        proc = before.procs[pid]
        raise HarnessError(
            f"{action.describe()}: no thread of P{pid} can act (P{pid} is {proc.life}, threads "
            f"{[t.life for t in proc.threads]}); the action is not enabled in this model state"
        )
    return thread


def command_for(
    event: EventDef, action: Action, before: System, join_timeout: float, bound: float
) -> tuple[int, Message]:
    """The agent that performs ``action`` and the command it is sent: a pure function of the model state."""
    drive = drive_of(event, action)
    if drive.how == "signal":
        raise HarnessError(f"{action.describe()}: a signal is sent by the driver, not by an agent")
    if not 0 <= action.pid < len(before.procs):
        raise HarnessError(f"{action.describe()}: the model system has no P{action.pid}")
    proc = before.procs[action.pid]
    arg = None if action.arg is NO_ARG else thaw(action.arg)  # the JSON value the path gave
    cmd: Message = {"op": drive.op, "arg": arg, "worker": action.thread, "timeout": join_timeout}
    if drive.how == "call":
        if proc.parent is None:
            raise HarnessError(f"{action.describe()}: P{action.pid} has no handle (it is the main program)")
        cmd.update(method=drive.name, target=action.pid, thread=thread_for(before, proc.parent, event.by, action))
        return proc.parent, cmd
    if drive.how == "end":
        cmd["event"] = drive.name
    if event.by == "control":
        cmd["thread"] = "control"
        cmd["timeout"] = bound / 2
    elif event.by == "self":
        cmd["thread"] = action.thread
    else:
        cmd["thread"] = thread_for(before, action.pid, event.by, action)
    if drive.op == "create_child":
        cmd["child"] = len(before.procs)
    elif drive.op in ("create_thread", "queue_put"):
        cmd["worker"] = len(proc.threads)
    if drive.op in CONSTRUCTORS:
        cmd["kwargs"] = keywords(event, arg)
    return action.pid, cmd


# The operations that build an object from the event's parameters, each a keyword of its constructor.
CONSTRUCTORS = frozenset({"create_child", "create_thread"})


def keywords(event: EventDef, arg: object) -> dict[str, object]:
    """The constructor's keyword arguments, named by the event's params; None is the keyword's own
    default (``daemon=None``: the creator's flag), so it is left out, as a program that does not pass it."""
    return {} if arg is None or len(event.params) != 1 else {event.params[0]: arg}


def unperformable(event: EventDef) -> str | None:
    """Why the runtime cannot perform ``event`` as its drive says, or ``None`` if it can."""
    drive = event.drive
    if drive is None or event.actor == "internal":
        return None
    if drive.how == "signal":
        return None if drive.name in signal.Signals.__members__ else f"there is no signal {drive.name!r}"
    if drive.how == "call":
        known = CALLS
    elif drive.how == "end":
        known = END_EVENTS
    else:
        known = OPERATIONS - {"call", "end"}
    if drive.name not in known:
        return f"the agent has no {drive.how} {drive.name!r} (it knows {', '.join(sorted(known))})"
    if event.by == "none":
        return "by='none' names no thread to perform it; say who acts (main, any, self or control)"
    return None


def check_performable(spec: Spec) -> None:
    """Refuse a model with a drivable event the runtime cannot perform: one line, the event and the fix."""
    for event in spec.events:
        why = unperformable(event)
        if why is not None:
            raise UnperformableError(
                f"event {event.name!r} is driven by {event.drive}, but {why}; "
                f"drive it another way, or give it drive=None to keep it model-only"
            )
