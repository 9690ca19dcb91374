"""The tracer as its tree's subreaper: each child's end arrives as SIGCHLD on a pipe, and is reaped.

A process whose parent dies is re-parented to the nearest subreaper, so every process of the
traced tree ends up either reaped by its own parent or reaped here. SIGCHLD wakes the wait
(``signal.set_wakeup_fd``): no polling, and a signal that arrives before the wait is not lost.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from dataclasses import dataclass
from types import FrameType, TracebackType


@dataclass(frozen=True)
class Reaped:
    """A process this tracer reaped: its own child (the program) or an orphan it adopted."""

    pid: int
    status: int  # the exit code, or -N for a death by signal N (as Popen.returncode)
    at_ns: int  # time.monotonic_ns() when it was reaped


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A Python handler, so that SIGCHLD reaches the wakeup fd (its default action is to ignore)."""


class ChildSignals:
    """While open, SIGCHLD makes :meth:`wait` return; main thread only (signals are delivered there)."""

    def __init__(self) -> None:
        self._read = self._write = -1
        self._previous_fd = -1
        self._previous_handler: object = signal.SIG_DFL

    def __enter__(self) -> ChildSignals:
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous_handler = signal.signal(signal.SIGCHLD, _ignore)
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        signal.signal(signal.SIGCHLD, self._previous_handler)  # type: ignore[arg-type]
        os.close(self._read)
        os.close(self._write)

    def wait(self, deadline: float | None) -> bool:
        """Until a signal arrives (True) or ``deadline`` (time.monotonic()) passes (False)."""
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self._read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass
        return bool(ready)


def reap_all() -> tuple[list[Reaped], bool]:
    """Reap every ended child now; return them, and whether any child is left (running)."""
    reaped: list[Reaped] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return reaped, False
        if info is None:
            return reaped, True
        status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        reaped.append(Reaped(info.si_pid, status, time.monotonic_ns()))
