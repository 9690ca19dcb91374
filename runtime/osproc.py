"""What the kernel says about a pid, and the few things the driver does to pids itself.

Every wait here is event-driven (a pidfd becomes readable when its process exits) and
bounded by the caller's deadline. Nothing here ever calls ``waitpid(-1)``: that would steal
exit statuses that ``Process`` objects are waiting for.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import sys
import threading
import time
from dataclasses import dataclass

import psutil

from proclife.runtime.errors import HarnessError

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

NONE, ALIVE, ZOMBIE, GONE = "none", "alive", "zombie", "gone"


@dataclass(frozen=True)
class Known:
    """A real process as first seen: its pid and its start time, so that a reused pid is not it."""

    pid: int
    created: float

    @staticmethod
    def of(pid: int) -> Known | None:
        try:
            return Known(pid, psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def process(self) -> psutil.Process | None:
        """The psutil view of this very process, or None once its pid is gone or reused."""
        try:
            proc = psutil.Process(self.pid)
            return proc if proc.create_time() == self.created else None
        except psutil.Error:
            return None

    def state(self) -> str:
        proc = self.process()
        if proc is None:
            return GONE
        try:
            return ZOMBIE if proc.status() == psutil.STATUS_ZOMBIE else ALIVE
        except psutil.NoSuchProcess:
            return GONE
        except psutil.ZombieProcess:
            return ZOMBIE

    def ppid(self) -> int | None:
        proc = self.process()
        try:
            return None if proc is None else proc.ppid()
        except psutil.Error:
            return None


def make_subreaper(on: bool = True) -> None:
    """Orphans of the run's tree come to this process instead of pid 1, to be seen and reaped
    (``on=False``: they go to pid 1 again). Runs hold it through ``SUBREAPER``."""
    if not sys.platform.startswith("linux"):
        raise HarnessError(f"the runtime needs Linux (PR_SET_CHILD_SUBREAPER); this is {sys.platform}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise HarnessError(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(errno)}")


def is_subreaper() -> bool:
    """Whether this process is a child subreaper now (PR_GET_CHILD_SUBREAPER)."""
    libc = ctypes.CDLL(None, use_errno=True)
    flag = ctypes.c_int(0)
    return libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value != 0


class _Subreaper:
    """The subreaper flag, held while any run of this process is open and given back after the last.

    A process that stayed a subreaper would adopt every orphan of every process tree below it,
    long after its runs (a test runner's other subprocesses, an application's), and nothing
    would reap them. A process that was a subreaper before its first run stays one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.was = False

    def hold(self) -> bool:
        """Hold the flag (True: the caller holds it now)."""
        with self.lock:
            if self.holders == 0:
                self.was = is_subreaper()
                if not self.was:
                    make_subreaper()
            self.holders += 1
            return True

    def release(self) -> bool:
        """Give the flag back (False: the caller no longer holds it)."""
        with self.lock:
            self.holders -= 1
            if self.holders == 0 and not self.was:
                make_subreaper(False)
            return False


SUBREAPER = _Subreaper()


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def pid_alive(pid: int) -> bool:
    """Running or sleeping: neither a zombie nor gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_fd(fd: int, deadline: float) -> bool:
    """Wait until ``fd`` (a pidfd: its process exited) is readable; False at the deadline."""
    ready, _, _ = select.select([fd], [], [], remaining(deadline))
    return bool(ready)


def wait_exit(known: Known, deadline: float) -> bool:
    """Wait until the process has exited (zombie or gone); False if the deadline came first."""
    try:
        fd = os.pidfd_open(known.pid)
    except ProcessLookupError:
        return True
    try:
        if known.process() is None:
            return True  # the pid now names another process: ours is gone
        return wait_fd(fd, deadline)
    finally:
        os.close(fd)


def reap(known: Known) -> int | None:
    """Collect the exit status of our own exited child, by pid; None if not ours or not yet."""
    try:
        pid, status = os.waitpid(known.pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if pid == known.pid else None


def wait_pid_or(pid: int | None, deadline: float) -> bool:
    """Wait until process ``pid`` exits or the deadline comes; False if there is no such pid."""
    if pid is None or pid <= 0:
        return False  # /proc shows ppid 0 while a process is being released
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        wait_fd(fd, deadline)
    finally:
        os.close(fd)
    return True


def wait_gone(known: Known, deadline: float) -> None:
    """Wait until the pid disappears (someone collected it), by psutil's bounded polling."""
    proc = known.process()
    if proc is None:
        return
    with contextlib.suppress(psutil.Error):
        proc.wait(timeout=remaining(deadline))


def main_thread_asleep(pid: int, deadline: float, quiet: float = 0.02) -> bool:
    """Wait until the main thread of ``pid`` sleeps in the kernel and stays asleep for ``quiet``.

    A signal for a process in its exit sequence must land where the model says it is: in
    the ``waitpid`` of ``join()`` or the lock of ``threading._shutdown``, not in the few
    hundred microseconds of Python before them. Nothing in the process can acknowledge
    that point, so the kernel is asked (/proc/PID/task/PID: the main thread's tid is the
    pid). A thread that only waits for the GIL gets it within the switch interval (5 ms),
    so sleeping in the same kernel function for ``quiet`` seconds means really blocked.
    False if the bound expired or the process is gone.
    """
    stat_path = f"/proc/{pid}/task/{pid}/stat"
    wchan_path = f"/proc/{pid}/task/{pid}/wchan"
    since: float | None = None
    last = ""
    while remaining(deadline) > 0:
        try:
            with open(stat_path) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(wchan_path) as f:
                where = f.read()
        except OSError:
            return False
        now = time.monotonic()
        if state in ("S", "D") and where == last:
            since = since if since is not None else now
            if now - since >= quiet:
                return True
        else:
            since = None
        last = where
        time.sleep(0.001)  # sleep-ok: sampling the kernel's view of another process; no event exists
    return False
