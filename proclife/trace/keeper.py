"""The keeper: a process beside the tracer that ends the traced tree if the tracer itself is killed.

The tracer ends its tree on every way out it can run code on (the program's end, ``--kill-after``,
Ctrl-C, SIGTERM). A SIGKILL of the tracer (a test harness's timeout, ``kill -9``) runs nothing, and
the tree would outlive it. So before the program starts, the tracer starts this keeper in a session
of its own (a terminal's Ctrl-C or a process group's kill does not reach it), tells it the run
(``watch``), and says ``done`` when its own cleanup is over. A keeper whose pipe from the tracer
closes before ``done`` kills the run's tree the way the tracer would (every process of the
program's session, or that wrote an event, born since the run began), removes what the tracer
would have removed on its way out (the run's site folder), then exits. (The run's entry among
the runs in progress goes with the next reader of the list: its tracer is gone.)

    python -m proclife.trace.keeper        (stdin: the tracer's pipe; stdout: "ready")
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from proclife.trace.errors import TraceFailed

TYPE_CHECKING = False  # the keeper starts before each traced run: psutil and the sink's reader are
if TYPE_CHECKING:  # imported only when a tree is to be ended
    import psutil

READY_BOUND = 30.0  # seconds the keeper may take to start (imports on a loaded machine)
END_BOUND = 10.0  # seconds the keeper may take to end a tree, and to exit once told


def live_tree(sink: Path, session: int, started_wall: float, exclude: set[int]) -> list[psutil.Process]:
    """The run's live processes: in the program's session or observed in ``sink``, born since the
    run began (a pid reused by an older process is not one of them), zombies and ``exclude`` aside."""
    import psutil

    from proclife.trace.registry import observed_pids

    candidates = observed_pids(sink)
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if os.getsid(pid) == session:
                candidates.add(pid)
    tree = []
    for pid in candidates - exclude:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.create_time() >= started_wall - 1.0 and proc.status() != psutil.STATUS_ZOMBIE:
                tree.append(proc)
    return tree


def stop_then_kill(tree: list[psutil.Process]) -> list[int]:
    """SIGSTOP every process, then SIGKILL each: killed one after the other, a parent could see its
    child die first and act on it. Returns the pids killed."""
    import psutil

    for proc in tree:
        with contextlib.suppress(psutil.Error):
            proc.suspend()
    killed = []
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            proc.kill()
            killed.append(proc.pid)
    return killed


class Keeper:
    """The tracer's side: start the keeper, tell it the run, release it when the tree is gone."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "proclife.trace.keeper"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, start_new_session=True, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_BOUND)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self._end()
            raise TraceFailed(f"the keeper (python -m proclife.trace.keeper) did not start within {READY_BOUND:g} s"
                              f" (it said {line!r}); run it by hand to see why")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def watch(self, session: int, started_wall: float, sink: Path, site: Path | None = None) -> None:
        """The run to end if the tracer dies: the program's session and its sink; and the run's
        site folder to remove then, as the tracer would have on its way out."""
        self._say("watch " + json.dumps({"session": session, "started_wall": started_wall,
                                         "sink": str(sink.resolve()), "site": site and str(site)}) + "\n")

    def release(self) -> None:
        """The tracer's cleanup is over: the keeper exits without touching anything."""
        self._say("done\n")
        self._end()

    def _say(self, line: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()

    def _end(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.proc.wait(END_BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(END_BOUND)


def _end_run(session: int, started_wall: float, sink: Path) -> None:
    """Kill the run's tree until none of it is left (bounded), then remove the ``pymp-*`` folders
    the killed processes had made (proclife.trace.leftovers)."""
    import psutil

    from proclife.trace.leftovers import remove_left

    killed: set[int] = set()
    deadline = time.monotonic() + END_BOUND
    while time.monotonic() < deadline:
        tree = live_tree(sink, session, started_wall, {os.getpid()})
        if not tree:
            remove_left(sink, killed)
            return
        killed.update(stop_then_kill(tree))
        psutil.wait_procs(tree, timeout=0.5)


def main() -> int:
    """Wait for the tracer's word; end the run if the tracer goes without it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the tracer handles Ctrl-C, then says "done"
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    word, _, rest = sys.stdin.readline().partition(" ")
    if word != "watch":
        return 0  # the tracer went before its program started: nothing to end
    run = json.loads(rest)
    if sys.stdin.readline() != "done\n":  # end of file: the tracer died without cleaning up
        _end_run(int(run["session"]), float(run["started_wall"]), Path(run["sink"]))
        if run["site"]:
            shutil.rmtree(run["site"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
