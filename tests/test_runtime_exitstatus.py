"""The agent's reads of an ended child's exit status and of its SIGTERM disposition change nothing.

Each read must leave what the model tracks as it was: a zombie stays a zombie, the handle stays
unpolled and still reads the same status itself afterwards, a forkserver's status stays in the
sentinel for ``poll()``.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from proclife.runtime.exitstatus import sigterm_disposition, status_of

BOUND = 10.0


def _wait_exited(pid: int) -> None:
    """Until the process has exited (its pidfd turns readable): a zombie, or gone if reaped elsewhere."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], BOUND)
        assert ready, f"pid {pid} did not exit within {BOUND}s"
    finally:
        os.close(fd)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        os.close(fd)


def _started(ctx: Any, target: Any, *args: object) -> Any:
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def test_a_zombie_childs_status_is_read_without_reaping_and_the_handle_still_reads_it() -> None:
    p = _started(multiprocessing.get_context("fork"), sys.exit, 3)
    _wait_exited(p.pid)
    assert status_of(p, forkserver=False, timeout=BOUND) == (3, "waitid")
    assert psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE  # still there for its handle
    assert p._popen.returncode is None  # not polled
    p.join(BOUND)
    assert p.exitcode == 3
    assert status_of(p, forkserver=False, timeout=BOUND) == (3, "handle")  # now the handle's own record


def test_a_signal_death_reads_as_minus_the_signal(pipe: tuple[int, int]) -> None:
    p = _started(multiprocessing.get_context("fork"), os.read, pipe[0], 1)
    assert status_of(p, forkserver=False, timeout=BOUND) is None  # still running: nothing to read
    p.kill()
    _wait_exited(p.pid)
    assert status_of(p, forkserver=False, timeout=BOUND) == (-signal.SIGKILL, "waitid")
    p.join(BOUND)
    assert p.exitcode == -signal.SIGKILL


def test_a_forkserver_childs_status_is_peeked_from_the_sentinel_and_left_for_poll() -> None:
    from multiprocessing import forkserver, resource_tracker

    ctx = multiprocessing.get_context("forkserver")
    try:
        p = _started(ctx, os._exit, 5)
        assert status_of(p, forkserver=True, timeout=BOUND) == (5, "sentinel")  # waits for the forkserver's write
        assert status_of(p, forkserver=True, timeout=BOUND) == (5, "sentinel")  # still in the pipe
        assert p._popen.returncode is None
        p.join(BOUND)
        assert p.exitcode == 5  # poll() read the very bytes peeked
    finally:
        forkserver._forkserver._stop()  # leave no forkserver behind this test, nor the resource
        resource_tracker._resource_tracker._stop()  # tracker it started (it would live as long as this worker)


def test_an_unstarted_or_closed_handle_has_no_status() -> None:
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=os._exit, args=(0,))
    assert status_of(p, forkserver=False, timeout=BOUND) is None
    p.start()
    p.join(BOUND)
    p.close()
    assert status_of(p, forkserver=False, timeout=BOUND) is None


def test_the_sigterm_disposition_is_named_as_the_model_names_it() -> None:
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(3)

    def other(signum: int, frame: object) -> None:
        return None

    old = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert sigterm_disposition(handler) == "default"
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        assert sigterm_disposition(handler) == "ignore"
        signal.signal(signal.SIGTERM, handler)
        assert sigterm_disposition(handler) == "exit"
        signal.signal(signal.SIGTERM, other)
        assert sigterm_disposition(handler).startswith("handler ")
    finally:
        signal.signal(signal.SIGTERM, old)


def test_the_snapshot_names_a_status_or_disposition_that_differs_and_who_saw_it() -> None:
    from proclife.model.core.system import ProcState, System
    from proclife.runtime.observe import Snapshot

    system = System((
        ProcState(parent=None, daemon=False, life="running.runnable", handle=None, sigterm="ignore"),
        ProcState(parent=0, daemon=False, life="terminated.zombie", handle="started", exitcode=1),
        ProcState(parent=0, daemon=False, life="running.runnable", handle="started", sigterm="ignore"),
    ))
    states = {0: "alive", 1: "zombie", 2: "alive"}
    agreeing = Snapshot(states, {}, {0: 10, 1: 11, 2: 12}, {1: 1}, "fork", {1: "waitid"}, {0: "ignore", 2: "ignore"})
    assert agreeing.mismatches(system) == []
    differing = Snapshot(states, {}, {0: 10, 1: 11, 2: 12}, {1: 0}, "fork", {1: "waitid"}, {0: "ignore", 2: "default"})
    assert differing.mismatches(system) == [
        "P1 (pid 11): model says exit code 1, it ended with 0 (read by its parent without reaping, waitid WNOWAIT)",
        "P2 (pid 12): model says its SIGTERM disposition is ignore, its agent reports default",
    ]
    unread = Snapshot(states, {}, {0: 10, 1: 11, 2: 12}, {}, "fork")  # nothing read: nothing compared
    assert unread.mismatches(system) == []
