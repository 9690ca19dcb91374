"""What the kernel says about a pid, and the few things the driver does to pids itself.

Every wait here is event-driven (a pidfd becomes readable when its process exits) and
bounded by the caller's deadline. Nothing here ever calls ``waitpid(-1)``: that would steal
exit statuses that ``Process`` objects are waiting for.
"""

from __future__ import annotations

import ctypes
import os
import select
import sys
import time
from dataclasses import dataclass

import psutil

from runtime.errors import HarnessError

PR_SET_CHILD_SUBREAPER = 36

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


def make_subreaper() -> None:
    """Orphans of the run's tree come to this process instead of pid 1, to be seen and reaped."""
    if not sys.platform.startswith("linux"):
        raise HarnessError(f"the runtime needs Linux (PR_SET_CHILD_SUBREAPER); this is {sys.platform}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise HarnessError(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(errno)}")


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


def wait_pid_or(pid: int | None, deadline: float) -> None:
    """Wait until process ``pid`` exits or the deadline comes, whichever is first."""
    if pid is None:
        return
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        wait_fd(fd, deadline)
    finally:
        os.close(fd)
