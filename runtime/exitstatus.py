"""What an agent reads of its ended children and of its own SIGTERM disposition, changing nothing.

The model tracks who reaps each child and the handle's state, so a read here must leave both
as they were: a zombie stays a zombie (``waitid`` with ``WNOWAIT``), the handle is not polled,
a forkserver's status stays in the sentinel pipe for ``poll()`` to read (``tee(2)`` copies it
out without consuming it). Stdlib only: it runs inside every process under test.

Where each status comes from, by who has it when the driver asks:
- the handle has reaped the child (``join``, ``is_alive``, ``exitcode``, ``active_children``):
  ``Popen.returncode``, an attribute read;
- fork and spawn, not reaped: the child is this process's zombie, ``waitid(..., WNOWAIT)``;
- forkserver: the forkserver reaped it at once and wrote its status to the sentinel pipe
  (``Lib/multiprocessing/forkserver.py`` ``main``: ``write_signed(child_w, returncode)``),
  peeked here once the pipe is readable (an event, bounded by the caller's timeout).
A status that cannot be read this way (the handle was closed, the main thread reaped it in the
instant between two reads) is ``None``: not compared, never guessed.
"""

from __future__ import annotations

import os
import select
import signal
import struct
from collections.abc import Callable

TYPE_CHECKING = False  # the agent imports this module: typing costs every fresh interpreter milliseconds
if TYPE_CHECKING:
    from typing import Any

SPLICE_F_NONBLOCK = 2
SIGNED = struct.Struct("q")  # multiprocessing.forkserver.write_signed's format
WITNESSES = {
    "handle": "its parent's handle reaped it",
    "waitid": "read by its parent without reaping, waitid WNOWAIT",
    "sentinel": "its forkserver wrote it to the sentinel",
}


def status_of(handle: Any, forkserver: bool, timeout: float) -> tuple[int, str] | None:
    """The exit status of ``handle``'s ended process and how it was read (a ``WITNESSES`` key), or None."""
    popen = getattr(handle, "_popen", None)
    if popen is None:
        return None
    code = getattr(popen, "returncode", None)
    if code is not None:
        return int(code), "handle"
    try:
        info = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # not ours (a forkserver's child), or reaped by the main thread just now
        code = getattr(popen, "returncode", None)
        if code is not None:
            return int(code), "handle"
        peeked = peek_signed(popen.sentinel, timeout) if forkserver else None
        return None if peeked is None else (peeked, "sentinel")
    if info is None:
        return None  # still running
    signalled = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
    return (-info.si_status if signalled else info.si_status), "waitid"


def peek_signed(fd: int, timeout: float) -> int | None:
    """The signed 8-byte integer waiting in pipe ``fd``, left in the pipe; None if none came within ``timeout``."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    import ctypes  # only forkserver runs need it

    tee: Callable[..., int] = ctypes.CDLL(None, use_errno=True).tee
    r, w = os.pipe()
    try:
        copied = tee(fd, w, SIGNED.size, SPLICE_F_NONBLOCK)
        if copied != SIGNED.size:  # EOF (the forkserver died) or nothing yet: written atomically, so never half
            return None
        return int(SIGNED.unpack(os.read(r, SIGNED.size))[0])
    finally:
        os.close(r)
        os.close(w)


def sigterm_disposition(exit_handler: object) -> str:
    """This process's SIGTERM disposition in the model's words: default, ignore, exit, or the handler's name."""
    current = signal.getsignal(signal.SIGTERM)
    if current == signal.SIG_DFL:
        return "default"
    if current == signal.SIG_IGN:
        return "ignore"
    if current is exit_handler:
        return "exit"
    return f"handler {getattr(current, '__qualname__', repr(current))}"
