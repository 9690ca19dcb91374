"""Symmetry reduction: one representative per class of systems that differ only by names.

Sibling processes and the threads of one process are interchangeable (no rule depends on
their order), so a system is renumbered by a pre-order walk that visits children in the
order of their subtree keys; ``parent`` indices are rewritten to match.
"""

from __future__ import annotations

import dataclasses

from proclife.model.core.system import ProcState, System, ThreadState

Key = tuple[object, ...]
NONE_CODE = -10_000  # sorts None among ints


def _thread_key(t: ThreadState) -> tuple[bool, str, str]:
    return (t.daemon, t.life, t.kind)


def _code(value: int | None) -> int:
    return NONE_CODE if value is None else value


def canonical(system: System) -> System:
    """The representative of ``system``'s class; index 0 stays the main program."""
    procs = system.procs
    if len(procs) == 1 and len(procs[0].threads) < 2:
        return system
    kids: list[list[int]] = [[] for _ in procs]
    for i, p in enumerate(procs):
        if p.parent is not None:
            kids[p.parent].append(i)
    keys: list[Key] = [()] * len(procs)
    # Children have larger indices than their parents: a reverse sweep sees them first.
    for i in range(len(procs) - 1, -1, -1):
        p = procs[i]
        kids[i].sort(key=keys.__getitem__)
        keys[i] = (
            p.daemon, p.life, p.handle or "", _code(p.code), _code(p.exitcode), p.sigterm,
            p.orphan, p.awaited, p.joining, p.main_daemon, p.fs_sigterm or "",
            tuple(sorted(map(_thread_key, p.threads))),
            tuple(keys[c] for c in kids[i]),
        )
    order: list[int] = []
    todo = [0]
    while todo:
        i = todo.pop()
        order.append(i)
        todo.extend(reversed(kids[i]))
    if order == list(range(len(procs))) and all(_sorted_threads(p) for p in procs):
        return system
    new_index = {old: new for new, old in enumerate(order)}
    out: list[ProcState] = []
    for old in order:
        p = procs[old]
        threads = tuple(sorted(p.threads, key=_thread_key))
        parent = None if p.parent is None else new_index[p.parent]
        out.append(_renumbered(p, parent, threads))
    return System(tuple(out))


def _sorted_threads(p: ProcState) -> bool:
    ts = p.threads
    return all(_thread_key(ts[i]) <= _thread_key(ts[i + 1]) for i in range(len(ts) - 1))


def _renumbered(p: ProcState, parent: int | None, threads: tuple[ThreadState, ...]) -> ProcState:
    """``p`` with a new parent index and sorted threads (ProcState is a tuple or a dataclass)."""
    if hasattr(p, "_replace"):
        return p._replace(parent=parent, threads=threads)
    return dataclasses.replace(p, parent=parent, threads=threads)  # type: ignore[type-var]
