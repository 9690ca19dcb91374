"""Deliberately wrong implementations of the multiprocessing API, each breaking one rule.

They wrap the standard library's fork context, so ``proclife conform --impl
examples.broken_impls:NAME`` must find each one out (exit status 1) with a shrunk trace
naming the broken rule. They are the harness's own test: a checker that passes these is
broken.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkContext, ForkProcess
from typing import Any


class _Context(ForkContext):
    """A fork context whose Process class is swapped for a broken one."""

    def __init__(self, process: type[ForkProcess]) -> None:
        super().__init__()
        self.Process = process  # type: ignore[assignment,misc]

    def get_start_method(self, allow_none: bool = False) -> str:
        return "fork"


class _StartTwiceIsSilent(ForkProcess):
    """Breaks handle.start_twice: a second start() returns instead of raising."""

    def start(self) -> None:
        if self._popen is not None:  # type: ignore[attr-defined]
            return
        super().start()


class _SignalsLookLikeSuccess(ForkProcess):
    """Breaks the signal exit codes: a process killed by a signal reports exit code 0."""

    @property
    def exitcode(self) -> Any:
        code = super().exitcode
        return 0 if code is not None and code < 0 else code


class _CloseIgnoresRunning(ForkProcess):
    """Breaks handle.close_running: close() of a running process is silently accepted."""

    def close(self) -> None:
        if self._popen is not None and self._popen.poll() is None:  # type: ignore[attr-defined]
            return
        super().close()


START_TWICE = _Context(_StartTwiceIsSilent)
SIGNAL_EXITCODE = _Context(_SignalsLookLikeSuccess)
CLOSE_RUNNING = _Context(_CloseIgnoresRunning)
# The unbroken context, for a control run.
FORK = multiprocessing.get_context("fork")
