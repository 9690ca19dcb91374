"""Which thread performs an action: today's implicit rule, or the one a path names.

A path may name the acting thread (``Action.actor``) of an event that some runnable thread
performs (``by`` 'main' or 'any'); the runtime asks that one. The outcome differs only where
the acting thread's daemon flag counts: a ``Thread()`` made without ``daemon=`` takes it, and
under fork so does the main thread of a child it starts (docs/semantics.md E10). Events of
other ``by`` leave no choice.
"""

from __future__ import annotations

from proclife.model.core.base import RUNNABLE
from proclife.model.core.engine import acting_thread
from proclife.model.core.spec import NEEDS_ACTOR
from proclife.model.core.system import System


def may_act(system: System, pid: int, by: str, actor: str | int) -> bool:
    """Whether thread ``actor`` ("main" or a thread index) of process ``pid`` may perform an event of ``by``."""
    if by not in NEEDS_ACTOR or acting_thread(system, pid, by) is None:
        return False
    proc = system.procs[pid]
    if actor == "main":
        return proc.life == RUNNABLE
    if by != "any" or isinstance(actor, str) or not 0 <= actor < len(proc.threads):
        return False
    return proc.threads[actor].life == RUNNABLE and proc.threads[actor].acts


def actors(system: System, pid: int, by: str) -> list[str | int]:
    """Every thread of ``pid`` that may perform an event of ``by``, the implicit one first."""
    first = acting_thread(system, pid, by)
    if first is None or by not in NEEDS_ACTOR:
        return []
    rest = [k for k in range(len(system.procs[pid].threads)) if k != first and may_act(system, pid, by, k)]
    return [first, *rest]
