"""Deliberately wrong implementations of the multiprocessing API, each breaking one rule.

They wrap the standard library's fork context, so ``proclife conform --impl
examples.broken_impls:NAME`` must find each one out (exit status 1) with a shrunk trace
naming the broken rule. They are the harness's own test: a checker that passes these is
broken.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing import process as mp_process
from multiprocessing import util
from multiprocessing.connection import wait
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


_ORIGINAL_EXIT_FUNCTION = util._exit_function  # type: ignore[attr-defined]


def _install_exit_change(change: Callable[[], None]) -> None:
    """Run ``change`` first in ``util._exit_function``: the children's end and the main program's atexit."""
    if getattr(util._exit_function, "__wrapped__", None) is _ORIGINAL_EXIT_FUNCTION:  # type: ignore[attr-defined]
        return

    def changed_exit_function(*args: Any, **kwargs: Any) -> Any:
        change()
        return _ORIGINAL_EXIT_FUNCTION(*args, **kwargs)

    changed_exit_function.__wrapped__ = _ORIGINAL_EXIT_FUNCTION  # type: ignore[attr-defined]
    atexit.unregister(_ORIGINAL_EXIT_FUNCTION)
    atexit.register(changed_exit_function)
    util._exit_function = changed_exit_function  # type: ignore[attr-defined]


class _ExitChanged(ForkProcess):
    """A process whose start() installs a changed exit function where it starts (fork carries it on)."""

    change: Callable[[], None]

    def start(self) -> None:
        _install_exit_change(type(self).change)
        super().start()


def _daemonic_children_become_non_daemonic() -> None:
    """Breaks the exit sequence's order: daemonic children are joined like the others, never SIGTERMed."""
    for child in list(mp_process._children):  # type: ignore[attr-defined]
        child._config["daemon"] = False


def _children_forgotten() -> None:
    """Breaks the exit sequence's membership: no child is joined (nor terminated); all are orphaned."""
    mp_process._children.clear()  # type: ignore[attr-defined]


class _DaemonsJoined(_ExitChanged):
    change = staticmethod(_daemonic_children_become_non_daemonic)


class _ChildrenOrphaned(_ExitChanged):
    change = staticmethod(_children_forgotten)


class _RaiseExitsZero(ForkProcess):
    """Breaks process.target_raise's exit status: an uncaught exception gives exit code 0, not 1."""

    def run(self) -> None:
        try:
            super().run()
        except Exception:
            traceback.print_exc()


class _TextExitIsSuccess(ForkProcess):
    """Breaks sys.exit("text")'s exit status: 0 instead of 1 (the text is still printed)."""

    def run(self) -> None:
        try:
            super().run()
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
                raise SystemExit(0) from None
            raise


class _JoinLeavesZombie(ForkProcess):
    """Breaks reaping: join() reads the exit status without collecting it, so the child stays a zombie."""

    def join(self, timeout: float | None = None) -> None:
        popen = self._popen  # type: ignore[attr-defined]
        if popen is None or popen.returncode is not None:
            return super().join(timeout)
        if timeout is not None and not wait([self.sentinel], timeout):
            return None
        flags = os.WEXITED | os.WNOWAIT | (os.WNOHANG if timeout is not None else 0)
        info = os.waitid(os.P_PID, popen.pid, flags)
        if info is None:
            return None
        signalled = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
        popen.returncode = -info.si_status if signalled else info.si_status
        mp_process._children.discard(self)  # type: ignore[attr-defined]
        return None


class _TerminateInterrupts(ForkProcess):
    """Breaks terminate(): it sends SIGINT (exit code 1 by KeyboardInterrupt) instead of SIGTERM (-15)."""

    def terminate(self) -> None:
        popen = self._popen  # type: ignore[attr-defined]
        if popen is None or self._closed:  # type: ignore[attr-defined]
            return super().terminate()  # unstarted or closed: the stdlib's error, unchanged
        if popen.returncode is None and popen.poll() is None:
            os.kill(popen.pid, signal.SIGINT)
        return None


class _SigtermDispositionReset(ForkProcess):
    """Breaks the inherited SIGTERM disposition: a forked child starts with SIGTERM at its default."""

    def run(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        super().run()


class _IsAliveAfterCloseIsFalse(ForkProcess):
    """Breaks handle.is_alive on a closed process: False instead of ValueError("process object is closed")."""

    def is_alive(self) -> bool:
        if self._closed:  # type: ignore[attr-defined]
            return False
        return super().is_alive()


class _JoinBeforeStartReturns(ForkProcess):
    """Breaks join() of a process never started: it returns None instead of raising AssertionError."""

    def join(self, timeout: float | None = None) -> None:
        if self._popen is None and not self._closed:  # type: ignore[attr-defined]
            return None
        return super().join(timeout)


class _TerminateEndedRaises(ForkProcess):
    """Breaks terminate() of an ended process: it raises ProcessLookupError instead of doing nothing."""

    def terminate(self) -> None:
        popen = self._popen  # type: ignore[attr-defined]
        if popen is not None and popen.poll() is not None:
            raise ProcessLookupError(f"process {popen.pid} has already ended")
        super().terminate()


class _DaemonAfterStartAccepted(ForkProcess):
    """Breaks handle.set_daemon on a started process: accepted instead of AssertionError."""

    @property  # type: ignore[override]
    def daemon(self) -> bool:
        return bool(self._config.get("daemon", False))  # type: ignore[attr-defined]

    @daemon.setter
    def daemon(self, value: bool) -> None:
        self._config["daemon"] = value  # type: ignore[attr-defined]


class _FeedersNotJoined(_Context):
    """Breaks the finalizers' feeder join (process.*_to_finalizers): every Queue's feeder thread is left
    unjoined, as if cancel_join_thread() had been called, so what a process put is lost at its exit."""

    def Queue(self, maxsize: int = 0) -> Any:
        queue = super().Queue(maxsize)
        queue.cancel_join_thread()
        return queue


START_TWICE = _Context(_StartTwiceIsSilent)
SIGNAL_EXITCODE = _Context(_SignalsLookLikeSuccess)
CLOSE_RUNNING = _Context(_CloseIgnoresRunning)
# Exit sequence, order and membership.
DAEMONS_JOINED = _Context(_DaemonsJoined)
CHILDREN_ORPHANED = _Context(_ChildrenOrphaned)
FEEDERS_NOT_JOINED = _FeedersNotJoined(ForkProcess)
# Exit statuses.
RAISE_EXITS_ZERO = _Context(_RaiseExitsZero)
TEXT_EXIT_ZERO = _Context(_TextExitIsSuccess)
# Reaping.
JOIN_LEAVES_ZOMBIE = _Context(_JoinLeavesZombie)
# Signals and their dispositions.
TERMINATE_INTERRUPTS = _Context(_TerminateInterrupts)
SIGTERM_DISPOSITION_RESET = _Context(_SigtermDispositionReset)
# API results and exceptions per handle state.
IS_ALIVE_AFTER_CLOSE = _Context(_IsAliveAfterCloseIsFalse)
JOIN_BEFORE_START = _Context(_JoinBeforeStartReturns)
TERMINATE_ENDED_RAISES = _Context(_TerminateEndedRaises)
DAEMON_AFTER_START = _Context(_DaemonAfterStartAccepted)
# The unbroken context, for a control run.
FORK = multiprocessing.get_context("fork")
