"""The end of a run: kill and reap every process it started, whoever its parent is now."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import psutil

from proclife.runtime.osproc import Known, remaining
from proclife.runtime.processes import Processes
from proclife.runtime.waits import reap_adopted

TOKEN_VAR = "PROCLIFE_RUN"  # every agent's environment carries its run's token under this name
TRACKER_BOUND = 2.0  # seconds a resource tracker may take to end by itself once the rest of the run is gone


def _children_map() -> dict[int, list[int]]:
    """Parent pid -> its children's pids, from one pass over /proc (``Process.children`` makes a
    pass per process asked, and ``process_iter`` builds an object per process: either cost most
    of a short run's teardown)."""
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue  # it ended meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ")" ends it
        fields = data[data.rfind(b")") + 2:].split()
        out.setdefault(int(fields[1]), []).append(int(name))
    return out


def _descendants(pid: int, children: dict[int, list[int]]) -> list[psutil.Process]:
    out: list[psutil.Process] = []
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        with contextlib.suppress(psutil.Error):
            out.append(psutil.Process(child))
        todo.extend(children.get(child, ()))
    return out


def live_processes(procs: Processes, token: str) -> dict[int, psutil.Process]:
    """Every live process of this run: known ones, their descendants, token-marked adoptees."""
    found: dict[int, psutil.Process] = {}
    roots = list(procs.known.values()) + list(procs.helpers.values())
    p0 = procs.p0
    if p0 is not None and p0.returncode is None and 0 not in procs.known:
        roots.append(Known.of(p0.pid) or Known(p0.pid, -1.0))
    children = _children_map()
    for known in roots:
        proc = known.process()
        if proc is None:
            continue
        found[proc.pid] = proc
        found.update((c.pid, c) for c in _descendants(proc.pid, children))
    for proc in _descendants(psutil.Process().pid, children):
        if proc.pid in found:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(TOKEN_VAR) == token:
                found[proc.pid] = proc
    return found


def is_resource_tracker(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker (or a fork's of it: billiard, multiprocess), by its command."""
    with contextlib.suppress(psutil.Error):
        return any("resource_tracker import main" in part for part in proc.cmdline())
    return False


def kill_everything(procs: Processes, token: str, bound: float) -> list[int]:
    """SIGKILL every live process of the run (three rounds, for those forked meanwhile) and reap
    them, within ``bound`` seconds; the pids still there after it.

    A resource tracker is spared until the rest is gone: the processes killed never unlink their
    named semaphores (a spawn or forkserver context's locks, in /dev/shm), and the tracker unlinks
    what they left as it ends, once no process holds its pipe. It is killed only if it does not
    end within TRACKER_BOUND."""
    victims: dict[int, psutil.Process] = {}
    trackers: dict[int, psutil.Process] = {}
    for _round in range(3):
        fresh = {pid: p for pid, p in live_processes(procs, token).items() if pid not in victims and pid not in trackers}
        if not fresh:
            break
        for pid, proc in fresh.items():
            if is_resource_tracker(proc):
                trackers[pid] = proc
                continue
            with contextlib.suppress(psutil.Error):
                proc.kill()
            victims[pid] = proc
    deadline = time.monotonic() + bound
    p0 = procs.p0
    if p0 is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p0.wait(timeout=remaining(deadline))
    others = [p for pid, p in victims.items() if p0 is None or pid != p0.pid]
    # Our own children are reaped by psutil's waitpid(pid); the rest are awaited.
    _, alive = psutil.wait_procs(others, timeout=remaining(deadline))
    if trackers:
        _, lingering = psutil.wait_procs(list(trackers.values()), timeout=min(TRACKER_BOUND, remaining(deadline)))
        for proc in lingering:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _, still = psutil.wait_procs(lingering, timeout=remaining(deadline))
        alive += still
    reap_adopted(procs)
    survivors = [p.pid for p in alive]
    if p0 is not None and p0.poll() is None:
        survivors.append(p0.pid)
    return survivors
