"""The end of a run: kill and reap every process it started, whoever its parent is now."""

from __future__ import annotations

import contextlib
import subprocess
import time

import psutil

from proclife.runtime.osproc import Known, remaining
from proclife.runtime.processes import Processes
from proclife.runtime.waits import reap_adopted

TOKEN_VAR = "PROCLIFE_RUN"  # every agent's environment carries its run's token under this name


def live_processes(procs: Processes, token: str) -> dict[int, psutil.Process]:
    """Every live process of this run: known ones, their descendants, token-marked adoptees."""
    found: dict[int, psutil.Process] = {}
    roots = list(procs.known.values()) + list(procs.helpers.values())
    p0 = procs.p0
    if p0 is not None and p0.returncode is None and 0 not in procs.known:
        roots.append(Known.of(p0.pid) or Known(p0.pid, -1.0))
    for known in roots:
        proc = known.process()
        if proc is None:
            continue
        found[proc.pid] = proc
        with contextlib.suppress(psutil.Error):
            found.update((c.pid, c) for c in proc.children(recursive=True))
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().children(recursive=True):
            if proc.pid in found:
                continue
            with contextlib.suppress(psutil.Error):
                if proc.environ().get(TOKEN_VAR) == token:
                    found[proc.pid] = proc
    return found


def kill_everything(procs: Processes, token: str, bound: float) -> list[int]:
    """SIGKILL every live process of the run (three rounds, for those forked meanwhile) and reap
    them, within ``bound`` seconds; the pids still there after it."""
    victims: dict[int, psutil.Process] = {}
    for _round in range(3):
        fresh = {pid: p for pid, p in live_processes(procs, token).items() if pid not in victims}
        if not fresh:
            break
        for proc in fresh.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        victims.update(fresh)
    deadline = time.monotonic() + bound
    p0 = procs.p0
    if p0 is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p0.wait(timeout=remaining(deadline))
    others = [p for pid, p in victims.items() if p0 is None or pid != p0.pid]
    # Our own children are reaped by psutil's waitpid(pid); the rest are awaited.
    _, alive = psutil.wait_procs(others, timeout=remaining(deadline))
    reap_adopted(procs)
    survivors = [p.pid for p in alive]
    if p0 is not None and p0.poll() is None:
        survivors.append(p0.pid)
    return survivors
