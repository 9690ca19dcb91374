"""A run's working folder (``$TMPDIR/proclife-XXXX``: the agents' socket and log) and the sweep of stale ones.

A driver removes its folder when it closes, but a SIGKILL gives it no chance: its agents
leave by their lifeline, the folder stays. So each folder records its owner, the pid and
that process's start time (a pid alone could since belong to another process), and every
new run first removes the folders whose owner is gone. A folder with no readable record
(made by something else, or by a run still writing it) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import psutil

PREFIX = "proclife-"
OWNER = "owner"  # "<pid> <start time>" of the process whose run the folder belongs to
SAME_START = 0.01  # seconds: the kernel counts start times in clock ticks
UNIX_PATH_MAX = 107  # the longest path an AF_UNIX socket binds to on Linux (sun_path, 108 with its NUL)
FORKSERVER_SOCKET = "/pymp-XXXXXXXX/listener-XXXXXXXX"  # what multiprocessing puts under TMPDIR for one


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def owner_alive(folder: Path) -> bool | None:
    """Whether the process that made ``folder`` still runs; ``None`` if the folder does not say."""
    try:
        pid_text, started_text = (folder / OWNER).read_text().split()
        pid, started = int(pid_text), float(started_text)
    except (OSError, ValueError):
        return None
    now = _start_time(pid)
    return now is not None and abs(now - started) < SAME_START


def sweep(parent: Path | None = None) -> list[Path]:
    """Remove this user's run folders in ``parent`` (the temp dir) whose owner is gone; those removed."""
    removed = []
    for folder in sorted(Path(parent or tempfile.gettempdir()).glob(PREFIX + "*")):
        with contextlib.suppress(OSError):
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            if owner_alive(folder) is False:
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


_SWEPT: set[tuple[int, str]] = set()  # (this process, temp dir) already swept: a stale folder stays stale
_STARTED: dict[int, float | None] = {}


def make() -> str:
    """A fresh run folder owned by this process, after sweeping the stale ones (once per temp dir
    and process: a conformance run makes a folder for each of its many short runs)."""
    me = os.getpid()
    key = (me, tempfile.gettempdir())
    if key not in _SWEPT:
        sweep()
        _SWEPT.add(key)
    path = tempfile.mkdtemp(prefix=PREFIX)
    if me not in _STARTED:
        _STARTED[me] = _start_time(me)
    record = Path(path, OWNER)
    staged = record.with_name(OWNER + ".tmp")  # written whole, then renamed: never read half-written
    staged.write_text(f"{me} {_STARTED[me]!r}\n")
    staged.replace(record)
    return path


def temporary_dir_for_run(folder: str) -> str | None:
    """The TMPDIR to give a run's processes: its own folder, removed with it, so that what they
    leave there (a forkserver's socket folder, ``pymp-*``: a process the run kills or ends by
    ``os._exit`` runs no finalizer) goes too; None where a socket under it would be too long."""
    return folder if len(folder) + len(FORKSERVER_SOCKET) <= UNIX_PATH_MAX else None
