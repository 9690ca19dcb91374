"""A traced process's threads' stacks, asked for with the observer's STACKS_SIGNAL and read back.

The observer registers ``faulthandler`` on that signal when ``proclife trace`` asks it to: the
process writes every thread's stack to its file, from the signal handler, in C, with no thread
of its own. Each interpreter has its file; a forked child writes to the one it inherited from
its parent (its ``forked`` event names it), so a dump holds the file's lock (``flock``) from
its truncation to its reading: the tracer and ``proclife why`` never ask two processes of one
file at once. faulthandler writes no end marker, so the dump is taken as complete when the
file has stopped growing for ``SETTLED`` seconds, within a bound ``DUMP_BOUND``; a dump still
empty at the bound is reported as such (the process did not answer), never waited for longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from proclife.runtime.observer import STACKS_FILE, STACKS_SIGNAL

DUMP_BOUND = 3.0  # seconds a process gets to write its stacks
SETTLED = 0.1  # seconds the dump must not grow to count as complete
_POLL = 0.02
_HEADER = re.compile(r"^(Current thread|Thread) (0x[0-9a-f]+) \(most recent call first\):$")
_FRAME = re.compile(r'^\s+File "(?P<file>.*)", line (?P<line>\d+|\?\?\?) in (?P<func>.*)$')


class StacksUnavailable(Exception):
    """The process's stacks could not be had (gone, not traced with stacks, or silent)."""


@dataclass(frozen=True)
class Frame:
    file: str
    line: int | None
    func: str

    def where(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line if self.line is not None else '?'}"


@dataclass
class ThreadStack:
    """One thread's frames, innermost first (as faulthandler writes them)."""

    ident: int
    frames: list[Frame] = field(default_factory=list)

    def is_thread_bootstrap(self) -> bool:
        return bool(self.frames) and self.frames[-1].func == "_bootstrap" and _is_stdlib(self.frames[-1].file)


def stacks_file(folder: Path, pid: int) -> Path:
    """The file of an interpreter's own dumps (a forked child's is named by its ``forked`` event)."""
    return folder / STACKS_FILE.format(pid=pid)


def parse(text: str) -> list[ThreadStack]:
    """faulthandler's all-threads dump, one ThreadStack per thread."""
    threads: list[ThreadStack] = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            threads.append(ThreadStack(int(header.group(2), 16)))
            continue
        frame = _FRAME.match(line)
        if frame and threads:
            number = frame.group("line")
            threads[-1].frames.append(Frame(frame.group("file"), int(number) if number.isdigit() else None,
                                            frame.group("func")))
    return threads


def dump(pid: int, path: Path, bound: float = DUMP_BOUND) -> list[ThreadStack]:
    """Ask ``pid`` for its stacks, written to ``path``, and parse them; StacksUnavailable says why
    there are none."""
    if not path.exists():
        raise StacksUnavailable(f"pid {pid} registered no stack dump ({path} does not exist)")
    deadline = time.monotonic() + bound
    with _locked(path, pid, deadline):
        os.truncate(path, 0)  # the process appends (O_APPEND): its new dump starts the file
        try:
            os.kill(pid, STACKS_SIGNAL)
        except ProcessLookupError:
            raise StacksUnavailable(f"pid {pid} has ended") from None
        size, stable_since = 0, time.monotonic()
        while time.monotonic() < deadline:
            now_size = path.stat().st_size
            if now_size != size:
                size, stable_since = now_size, time.monotonic()
            elif size and time.monotonic() - stable_since >= SETTLED:
                return parse(path.read_text(errors="replace"))
            time.sleep(_POLL)  # sleep-ok: polling a file's size under a bound; faulthandler signals no completion
        if size:
            return parse(path.read_text(errors="replace"))
    raise StacksUnavailable(f"pid {pid} wrote no stacks within {bound:g} s of the signal")


@contextlib.contextmanager
def _locked(path: Path, pid: int, deadline: float) -> Iterator[None]:
    """The file's exclusive lock, taken before ``deadline`` (another dump of the same file may hold it)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below, after the lock is let go)
    except OSError as exc:
        raise StacksUnavailable(f"the stack file of pid {pid} cannot be opened ({exc})") from None
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StacksUnavailable(f"the stack file of pid {pid} ({path}) stayed locked by another "
                                            "dump") from None
                time.sleep(_POLL)  # sleep-ok: polling a lock under the dump's bound
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_stdlib(file: str) -> bool:
    return "/lib/python3" in file and "site-packages" not in file


def _is_library(file: str) -> bool:
    return _is_stdlib(file) or "/proclife_observer" in file or file.endswith("_proclife_observer.py")


_WAITS = frozenset({"wait", "acquire", "_wait_for_tstate_lock", "join", "_send", "_send_bytes", "send_bytes",
                    "_recv", "_recv_bytes", "recv_bytes", "poll", "_poll", "select", "get", "put"})
# frames of the exit machinery: a program frame below one of them is where the process was
# started, not what it waits for
_MACHINERY = frozenset({"_exit_function", "_run_finalizers", "_shutdown", "_bootstrap", "_bootstrap_inner"})


def _name(frame: Frame) -> str:
    return f"{os.path.splitext(os.path.basename(frame.file))[0]}.{frame.func}"


def blocked_in(stack: ThreadStack) -> str | None:
    """Where the thread waits, in the program's own terms: the library call made from the
    program's line ("queue.put at app.py:42"); inside the exit machinery or a library thread, the
    library function that called the wait ("queues._finalize_join at queues.py:199")."""
    frames = stack.frames
    if not frames:
        return None
    for i, frame in enumerate(frames):
        if frame.func in _MACHINERY and _is_library(frame.file):
            break
        if not _is_library(frame.file):
            return f"{frame.func} at {frame.where()}" if i == 0 else f"{_name(frames[i - 1])} at {frame.where()}"
    chain = 0
    while chain + 1 < len(frames) and frames[chain].func in _WAITS:
        chain += 1
    caller = frames[chain]
    return f"{_name(frames[max(chain - 1, 0)])} called by {_name(caller)} at {caller.where()}" if chain else \
        f"{_name(caller)} at {caller.where()}"
