"""Run the traced program: its own session, the observer in every Python process, every process reaped.

The program inherits this process's stdin, stdout and stderr. The tracer is the tree's subreaper,
so orphans come back to it; it waits for the main process (up to ``--kill-after``), then gives the
processes still running ``ORPHAN_BOUND`` seconds to end. Whatever is left at a bound is killed
with SIGKILL (every process that wrote an event, every descendant, the program's session) and
reaped: no process outlives the trace. If the tracer is itself killed by SIGKILL, its keeper
(``proclife.trace.keeper``) ends the tree instead, and removes the run's site folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from proclife.runtime.cleanup import TRACKER_BOUND, is_resource_tracker
from proclife.runtime.osproc import SUBREAPER
from proclife.trace.errors import TraceFailed, TraceUsageError
from proclife.trace.keeper import Keeper, live_tree, stop_then_kill
from proclife.trace.leftovers import remove_left
from proclife.trace.loader import environment, keep_bytecode, prepare_site
from proclife.trace.reaping import ChildSignals, Reaped, reap_all
from proclife.trace.registry import RunEntry, register, unregister

ORPHAN_BOUND = 10.0  # seconds the processes left when the main process ended get to end by themselves
KILL_BOUND = 10.0  # seconds for killed processes to be reaped
EVENTS_FILE = "events.jsonl"
STACKS_FOLDER = "stacks"
WATCH_EVERY = 0.25  # seconds between two calls of a watcher while waiting (its facts wake no one)


@dataclass
class Recording:
    """What the tracer itself saw of a run; the observer's events are in ``sink``."""

    command: list[str]
    sink: Path
    started_ns: int
    started_wall: float
    main_pid: int = 0
    ended_ns: int = 0
    exit_status: int | None = None  # None: killed before it ended
    kill_after: float | None = None
    killed: list[int] = field(default_factory=list)  # pids SIGKILLed by the tracer
    incomplete: str | None = None  # why the trace is incomplete (killed), or None
    removed: list[str] = field(default_factory=list)  # the pymp-* folders the killed processes left, removed
    reaped: dict[int, Reaped] = field(default_factory=dict)  # by the tracer: the main process and adoptees
    tracer_pid: int = field(default_factory=os.getpid)
    stacks: Path | None = None  # the folder of the processes' stack dumps
    keeper_pid: int = 0  # the tracer's keeper: a child of the tracer, not of the run
    watch: Callable[[Recording], None] | None = None  # called while waiting (--explain-after)


def record(command: Sequence[str], out: Path, kill_after: float | None,
           watch: Callable[[Recording], None] | None = None) -> Recording:
    """Run ``command`` traced; the events go to ``out/events.jsonl``, the stack dumps (for
    ``--explain-after`` and ``proclife why``) to ``out/stacks/``. ``watch`` is called with the
    recording so far at least every WATCH_EVERY seconds until the run is over."""
    SUBREAPER.hold()  # the program's orphans come here to be reaped; given back once the run is over
    try:
        return _record(command, out, kill_after, watch)
    finally:
        SUBREAPER.release()


def _record(command: Sequence[str], out: Path, kill_after: float | None,
            watch: Callable[[Recording], None] | None) -> Recording:
    out.mkdir(parents=True, exist_ok=True)
    sink = out / EVENTS_FILE
    sink.unlink(missing_ok=True)
    stacks = out / STACKS_FOLDER
    shutil.rmtree(stacks, ignore_errors=True)
    stacks.mkdir()
    site = Path(tempfile.mkdtemp(prefix="proclife-trace-site-"))
    try:
        env = environment(prepare_site(site), sink, os.environ, stacks)
        with ChildSignals() as signals:
            return _run(list(command), env, sink, kill_after, signals, watch, stacks, site)
    finally:
        keep_bytecode(site)
        shutil.rmtree(site, ignore_errors=True)


def _run(command: list[str], env: dict[str, str], sink: Path, kill_after: float | None,
         signals: ChildSignals, watch: Callable[[Recording], None] | None = None,
         stacks: Path | None = None, site: Path | None = None) -> Recording:
    keeper = Keeper()  # started (and ready) before the run's clock starts
    rec = Recording(command, sink, time.monotonic_ns(), time.time(), kill_after=kill_after, stacks=stacks,
                    watch=watch, keeper_pid=keeper.pid)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(command, env=env, start_new_session=True)
    except OSError as exc:
        keeper.release()
        raise TraceUsageError(f"cannot run {command[0]}: {exc.strerror or exc}; name a Python interpreter") from None
    rec.main_pid = proc.pid
    keeper.watch(proc.pid, rec.started_wall, sink, site)
    listing = register(RunEntry(rec.tracer_pid, proc.pid, str(sink.resolve()), str((stacks or sink.parent).resolve())))
    try:
        _await(rec, signals, None if kill_after is None else started + kill_after, main_only=True)
        if rec.exit_status is None:
            rec.incomplete = f"killed after {kill_after:g} s: the main process had not ended"
            _kill_tree(rec, signals)
            rec.exit_status = None  # its -9 is the tracer's doing, in rec.reaped
        else:
            left = _await(rec, signals, time.monotonic() + ORPHAN_BOUND, main_only=False)
            if left:
                rec.incomplete = (f"killed: processes still running {ORPHAN_BOUND:g} s after the main process "
                                  "ended")
                _kill_tree(rec, signals)
        rec.ended_ns = time.monotonic_ns()  # the last process reaped (the keeper's own exit is not the run's)
        if rec.removed:
            rec.incomplete = (f"{rec.incomplete}; removed the temporary folders multiprocessing had made in the "
                              f"killed processes: {', '.join(rec.removed)}")
    except BaseException:
        _kill_tree(rec, signals)  # interrupted (Ctrl-C, SIGTERM): the tree goes with the tracer
        raise
    finally:
        unregister(listing)
        keeper.release()
        proc.returncode = rec.exit_status if rec.exit_status is not None else -signal.SIGKILL
    return rec


def _await(rec: Recording, signals: ChildSignals, deadline: float | None, main_only: bool) -> bool:
    """Reap as children end until the main process (``main_only``) or every child has; True if some
    awaited process is still running at ``deadline``."""
    while True:
        reaped, children_left = reap_all()
        for one in reaped:
            if one.pid == rec.keeper_pid:
                continue
            rec.reaped[one.pid] = one
            if one.pid == rec.main_pid:
                rec.exit_status = one.status
        done = rec.exit_status is not None if main_only else not _run_children_left(rec, children_left)
        if done:
            return False
        if rec.watch is None:
            if not signals.wait(deadline):
                return True
            continue
        soon = time.monotonic() + WATCH_EVERY
        woken = signals.wait(soon if deadline is None else min(deadline, soon))
        rec.watch(rec)
        if not woken and deadline is not None and time.monotonic() >= deadline:
            return True


def _run_children_left(rec: Recording, children_left: bool) -> bool:
    """Whether a child of the tracer other than its keeper is still running."""
    if not children_left or not rec.keeper_pid:
        return children_left
    with contextlib.suppress(psutil.Error):
        return any(child.pid != rec.keeper_pid for child in psutil.Process().children())
    return True


def _tree(rec: Recording) -> list[psutil.Process]:
    """The run's live processes: observed, descended from the tracer (but its keeper), or in the
    program's session; a pid reused by a process born before the run is not one of them."""
    tree = live_tree(rec.sink, rec.main_pid, rec.started_wall, {os.getpid(), rec.keeper_pid})
    known = {proc.pid for proc in tree}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children(recursive=True):
            if child.pid not in known and child.pid != rec.keeper_pid and child.status() != psutil.STATUS_ZOMBIE:
                tree.append(child)
    return tree


def _kill_tree(rec: Recording, signals: ChildSignals) -> None:
    """SIGKILL the whole tree, reap it, and check that none of it is left.

    Every process is stopped first: killed one after the other, a parent could otherwise see its
    child die (its join() returns, its observer writes it) before its own SIGKILL, and the trace
    would show a wait the program never finished by itself. A resource tracker is spared until
    the rest is dead: it then ends by itself, unlinking the named semaphores the killed processes
    left in /dev/shm, or is killed after TRACKER_BOUND."""
    tree = _tree(rec)
    trackers = [proc for proc in tree if is_resource_tracker(proc)]
    rec.killed.extend(stop_then_kill([proc for proc in tree if proc not in trackers]))
    if trackers and _await(rec, signals, time.monotonic() + TRACKER_BOUND, main_only=False):
        rec.killed.extend(stop_then_kill(trackers))  # (it had its chance to unlink the semaphores)
    if rec.main_pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rec.main_pid, signal.SIGKILL)
    if _await(rec, signals, time.monotonic() + KILL_BOUND, main_only=False):
        raise TraceFailed(f"children of the tracer still not reaped {KILL_BOUND:g} s after SIGKILL")
    _, alive = psutil.wait_procs(tree, timeout=KILL_BOUND)
    if alive:
        raise TraceFailed(f"processes {sorted(p.pid for p in alive)} of the traced tree survived SIGKILL for "
                          f"{KILL_BOUND:g} s; end them by hand")
    rec.removed.extend(remove_left(rec.sink, set(rec.killed)))  # what their finalizers would have removed
