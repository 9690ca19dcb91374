"""Waiting, bounded and on events, for the ends the model predicts; reaping what the run adopted.

Every wait is event-driven (the agent's connection closing, a pidfd turning readable,
``Popen.wait`` for P0, a parent's exit) and ends at the caller's deadline. A deadline that
expires is not an error here: the comparison of ``observe()`` with the model that follows
shows what did not happen.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable

from proclife.model.core.system import System
from proclife.runtime.hub import Hub
from proclife.runtime.observe import expected_adopted, expected_os
from proclife.runtime.osproc import GONE, ZOMBIE, Known, reap, remaining, wait_exit, wait_gone, wait_pid_or
from proclife.runtime.processes import Processes

REAP_SLICE = 0.02  # how often to look whether a zombie's living parent has collected it


def await_settled(procs: Processes, hub: Hub, expected: System, deadline: float,
                  stop: Callable[[], bool] = lambda: False) -> None:
    """Wait until every process the model says has ended has ended as it says, and orphans are adopted.

    ``stop()`` is asked whenever something arrives: true (a fact already contradicts this
    outcome) ends the wait at once, and the comparison that follows says why.
    """
    want = expected_os(expected)
    for ident, state in want.items():
        known = procs.known.get(ident)
        if state in (ZOMBIE, GONE) and known is not None and ident not in procs.gone:
            hub.wait(lambda i=ident: i in hub.ended or i not in hub.conns or stop(), deadline)  # type: ignore[misc]
            if stop():
                return
            wait_exit(known, deadline)
    for ident, state in want.items():
        if state == GONE and ident in procs.known:
            await_gone(procs, ident, deadline, lambda: _read_then(hub, stop))
            if stop():
                return
    for ident, orphan in expected_adopted(expected, procs.start_method).items():
        if orphan and ident in procs.known:
            await_adopted(procs.known[ident], deadline)
    reap_adopted(procs)


def _read_then(hub: Hub, stop: Callable[[], bool]) -> bool:
    """``stop()`` on the facts arrived so far: a wait for a reaping reads no stream by itself."""
    hub.pump_now()
    return stop()


def await_gone(procs: Processes, ident: int, deadline: float, stop: Callable[[], bool] = lambda: False) -> None:
    """Wait until ``ident``'s exit status is collected; collect it where it is ours to collect.
    ``stop()``, asked at each look, ends the wait (the facts rule the reaping out)."""
    known = procs.known[ident]
    if ident == 0:
        assert procs.p0 is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            procs.exitcodes[0] = procs.p0.wait(timeout=remaining(deadline))
        return
    me = os.getpid()
    while remaining(deadline) > 0 and procs.state(ident) != GONE and not stop():
        parent = known.ppid()
        if parent == me:
            code = reap(known)
            if code is not None:
                procs.exitcodes[ident] = code
            return
        # Reaping by a living parent gives no event; the parent's own exit does (then the
        # zombie comes to the subreaper): wake on that, and look again every slice.
        slice_end = min(deadline, time.monotonic() + REAP_SLICE)
        if not wait_pid_or(parent, slice_end):
            wait_gone(known, slice_end)


def await_adopted(known: Known, deadline: float) -> None:
    """An orphan is re-parented when its OS parent exits: wait on that parent's pidfd."""
    me = os.getpid()
    while remaining(deadline) > 0:
        parent = known.ppid()
        if parent is None or parent == me:
            return
        wait_pid_or(parent, deadline)


def reap_adopted(procs: Processes) -> None:
    """The subreaper collects its orphans at once, as the model's reaped_by_other says."""
    me = os.getpid()
    for ident, known in procs.known.items():
        if ident != 0 and procs.state(ident) == ZOMBIE and known.ppid() == me:
            code = reap(known)
            if code is not None:
                procs.exitcodes[ident] = code
    for known in procs.helpers.values():
        if known.state() == ZOMBIE and known.ppid() == me:
            reap(known)
