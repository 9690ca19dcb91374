"""Reproduce a disagreement between proclife's model and a multiprocessing implementation.

Standalone: needs Python and the implementation under test, nothing else. The agent that
runs inside every process is embedded below and written to a temporary folder; this script
starts the main program, replays the steps, waits for the processes the model says have
ended, and compares after each step what proclife compares: the result, each process's OS
state, the exit status of every ended process (asked of its living parent's agent, which
reads it without reaping; P0's and adopted orphans' as this script reaps them), each
agent's SIGTERM disposition, and each process's own account of its life (the in-process observer's
facts, held to the model by proclife's own evidence checks, embedded below). Exit status 1: the
disagreement reproduced; 0: everything agreed in every replay (up to 5, or the first argument);
3: the replay itself failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

IMPL = "fork"
STEPS: list[dict[str, Any]] = []  # filled in by proclife
SOURCES: dict[str, str] = {}  # filled in by proclife
BOUND = 10.0
ATTEMPTS = 5  # replays before "did not reproduce" (the first argument overrides it)


def os_state(pid: int | None) -> str:
    """What the kernel shows: none, alive, zombie or gone."""
    if pid is None:
        return "none"
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    return "zombie" if state in ("Z", "X") else "alive"


def exited(pidfd: int) -> bool:
    """The process has exited, every thread of it: its pidfd is readable. (/proc's state of a process
    shows "Z" as soon as its main thread has ended, before the rest of it has and its parent can wait.)"""
    return bool(select.select([pidfd], [], [], 0)[0])


class HarnessFailed(Exception):
    """The replay itself could not go on: not a finding about the implementation."""


class Run:
    def __init__(self, code: str, folder: str) -> None:
        """One replay: the agents import proclife from ``code``; ``folder`` holds this run's socket and FIFO."""
        from proclife.runtime.events import EventStream  # embedded: importable once main() wrote SOURCES

        self.folder = folder
        self.stream = EventStream(folder)  # every process's observer writes here
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.address = os.path.join(folder, "agents.sock")
        self.listener.bind(self.address)
        self.listener.listen(64)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ)
        self.sel.register(self.stream.fd, selectors.EVENT_READ)
        self.conns: dict[int, socket.socket] = {}
        self.pids: dict[int, int] = {}
        self.acks: dict[int, dict[str, Any]] = {}
        self.ended: set[int] = set()  # agents whose connection closed
        self.sigterm: dict[int, str] = {}  # each agent's SIGTERM disposition, as it last reported it
        self.codes: dict[int, int] = {}  # exit statuses read so far
        self.asked = 0
        self.buffers: dict[socket.socket, bytes] = {}
        env = dict(os.environ, PYTHONPATH=os.pathsep.join((code, os.getcwd())))
        # runtime/workdir.py temporary_dir_for_run, restated: this script runs on the standard library
        # alone. A forkserver's socket folder goes with the run's folder, where its path fits AF_UNIX's.
        if len(folder) + len("/pymp-XXXXXXXX/listener-XXXXXXXX") <= 107:
            env["TMPDIR"] = folder
        argv = [sys.executable, "-m", "proclife.runtime.agent", "--impl", IMPL, "--address", self.address, "--id", "0",
                "--events", self.stream.path]
        self.p0 = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait(lambda: 0 in self.pids, "the main program's hello")

    def wait(self, done: Any, what: str, deadline: float | None = None) -> None:
        deadline = time.monotonic() + BOUND if deadline is None else deadline
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessFailed(f"gave up waiting for {what} after {BOUND}s")
            if self.p0.poll() is not None and not self.pids:
                raise HarnessFailed(f"the main program exited ({self.p0.returncode}) before {what}")
            for key, _ in self.sel.select(min(left, 0.5)):
                if key.data == "pidfd":
                    continue  # done() reads what it means
                if key.fileobj == self.stream.fd:
                    self.stream.read()
                    continue
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if sock is self.listener:
                    conn, _ = self.listener.accept()
                    self.sel.register(conn, selectors.EVENT_READ)
                    self.buffers[conn] = b""
                    continue
                data = sock.recv(65536)
                if not data:
                    self.sel.unregister(sock)
                    self.ended.update(i for i, c in self.conns.items() if c is sock)
                    continue
                self.buffers[sock] += data
                while b"\n" in self.buffers[sock]:
                    line, self.buffers[sock] = self.buffers[sock].split(b"\n", 1)
                    msg = json.loads(line)
                    if msg.get("type") == "hello":
                        self.conns[int(msg["id"])] = sock
                        self.pids[int(msg["id"])] = int(msg["pid"])
                        if "sigterm" in msg:
                            self.sigterm[int(msg["id"])] = msg["sigterm"]
                    else:
                        self.acks[int(msg["seq"])] = msg

    def perform(self, step: dict[str, Any]) -> str:
        if step["signal"] is not None:  # the signal's number, as the model's drive names it
            os.kill(self.pids[step["target"]], int(step["signal"]))
            return "ack"
        cmd = step["cmd"]
        self.conns[step["agent"]].sendall(json.dumps(cmd).encode() + b"\n")
        self.wait(lambda: cmd["seq"] in self.acks, f"the answer to {step['describe']}")
        reply = self.acks.pop(cmd["seq"])
        if "sigterm" in reply:
            self.sigterm[step["agent"]] = reply["sigterm"]
        if step.get("starts") is not None and reply.get("pid") is not None:
            self.wait(lambda: step["starts"] in self.pids, f"P{step['starts']}'s hello")
        return str(reply["observed"])

    def settle(self, step: dict[str, Any]) -> list[str]:
        """Wait for the ends the model predicts; a fact that rules out every allowed outcome ends the wait."""
        expected: dict[str, str] = step["os"]
        deadline = time.monotonic() + BOUND
        me = os.getpid()
        for ident, want in expected.items():
            pid = self.pids.get(int(ident))
            if pid is None or want == "alive":
                continue
            with contextlib.suppress(ProcessLookupError, OSError, HarnessFailed):  # an end not come shows below
                fd = os.pidfd_open(pid)
                self.sel.register(fd, selectors.EVENT_READ, "pidfd")  # readable once it has exited
                try:
                    self.wait(lambda fd=fd: exited(fd) or self.contradicted(step),  # type: ignore[misc]
                              f"the end of P{ident}", deadline)
                finally:
                    self.sel.unregister(fd)
                    os.close(fd)
            if want == "gone" and int(ident) == 0:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.p0.wait(max(0.0, deadline - time.monotonic()))
            elif want == "gone":
                with contextlib.suppress(ChildProcessError, OSError):
                    # an adopted orphan: reaped only once it has ended (one still running is a finding)
                    if _ppid(pid) == me and os_state(pid) == "zombie":
                        self.codes[int(ident)] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return [
            f"P{i}: the model says {w}, the OS shows {os_state(self.pids.get(int(i)))}"
            for i, w in expected.items()
            if os_state(self.pids.get(int(i))) != w and not (w == "gone" and os_state(self.pids.get(int(i))) == "none")
        ]

    def facts(self, step: dict[str, Any]) -> list[str]:
        """Exit statuses and SIGTERM dispositions that differ from every value the model allows."""
        problems = []
        for ident, allowed in step.get("sigterm", {}).items():
            seen = self.sigterm.get(int(ident))
            if seen is not None and seen not in allowed:
                problems.append(f"P{ident}: the model says its SIGTERM disposition is {' or '.join(allowed)}, "
                                f"its agent reports {seen}")
        for ident, allowed in step.get("exitcodes", {}).items():
            code = self.status(int(ident), step["parents"].get(ident))
            if code is not None and code not in allowed:
                problems.append(f"P{ident}: the model says exit code {' or '.join(map(str, allowed))}, "
                                f"it ended with {code}")
        return problems

    def accounts(self) -> Any:
        """Each process's own account, as proclife's evidence checks read it."""
        from proclife.conformance.evidence import Accounts

        def of(ident: int) -> Any:
            return None if ident not in self.pids else self.stream.of(self.pids[ident])

        def model_pid(os_pid: int) -> int | None:
            return next((i for i, p in self.pids.items() if p == os_pid), None)

        return Accounts(of, self.pids.get, model_pid, lambda ident: ident in self.ended)

    def contradicted(self, step: dict[str, Any]) -> bool:
        """Every outcome the model allows is ruled out by a fact some process has already reported."""
        from proclife.conformance.evidence import ModelView, contradictions

        views = step.get("views", [])
        accounts = self.accounts()
        return bool(views) and all(contradictions(ModelView(plain), accounts) for plain in views)

    def evidence(self, step: dict[str, Any]) -> list[str]:
        """What the processes' own accounts show against the model (any allowed outcome may match):
        contradicting facts, and exit phases the model holds a process in that it never showed."""
        from proclife.conformance.evidence import ModelView, decided, differences, unmet

        problems: list[str] = []
        for plain in step.get("views", []):
            view, accounts = ModelView(plain), self.accounts()
            if unmet(view, accounts):
                with contextlib.suppress(HarnessFailed):  # an expectation still unmet is reported below
                    self.wait(lambda: decided(view, accounts, lambda i: i in self.ended),  # noqa: B023
                              "each process to show the exit phase the model holds it in")
            self.stream.read()
            found = differences(view, accounts, BOUND)
            if not found:
                return []
            problems = problems or found
        return problems

    def status(self, ident: int, parent: int | None) -> int | None:
        """``ident``'s exit status: reaped here, or read by its living parent's agent without reaping."""
        if ident == 0 and self.p0.returncode is not None:
            self.codes[0] = self.p0.returncode
        if ident in self.codes or parent is None or parent in self.ended or parent not in self.conns:
            return self.codes.get(ident)
        self.asked += 1
        seq = -self.asked  # apart from the steps' numbers
        cmd = {"op": "statuses", "thread": "control", "children": [ident], "timeout": BOUND / 2, "seq": seq}
        with contextlib.suppress(OSError):
            self.conns[parent].sendall(json.dumps(cmd).encode() + b"\n")
        self.wait(lambda: seq in self.acks or parent in self.ended, f"P{parent}'s reading of P{ident}'s exit status")
        read = self.acks.pop(seq, {}).get("statuses", {}).get(str(ident))
        if read is not None:
            self.codes[ident] = int(read[0])
        return self.codes.get(ident)

    def close(self) -> None:
        for pid in self.pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.p0.wait(BOUND)
        me = os.getpid()
        for pid in self.pids.values():
            with contextlib.suppress(ChildProcessError, OSError):
                if _ppid(pid) == me:
                    os.waitpid(pid, 0)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def replay(code: str, folder: str) -> int:
    """One replay of STEPS: 1 when a step disagrees, 0 when every step agreed, 3 when the replay failed."""
    status = 0
    run = None
    try:
        run = Run(code, folder)
        for number, step in enumerate(STEPS, 1):
            observed = run.perform(step)
            problems = [] if observed in step["allowed"] else [f"result {observed!r}, the model allows {step['allowed']}"]
            problems += run.settle(step)
            problems += run.facts(step)
            problems += run.evidence(step)
            print(f"{number:3}. {step['describe']:32} -> {observed}")
            for problem in problems:
                print(f"     DISAGREES: {problem}")
            if problems:
                status = 1
                break
    except HarnessFailed as failed:
        print(f"the replay itself failed: {failed}", file=sys.stderr)
        status = 3
    finally:
        if run is not None:
            run.close()
            run.stream.close()
    return status


def main() -> int:
    """Replay up to ATTEMPTS times: a fault that shows only in some interleavings (which child the
    exit sequence reaps before joining it, say) may need more than one."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # child subreaper: orphans come here
    attempts = int(sys.argv[1]) if len(sys.argv) > 1 else ATTEMPTS
    code = tempfile.mkdtemp(prefix="proclife-repro-")
    for name, text in SOURCES.items():
        os.makedirs(os.path.join(code, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(code, name), "w") as f:
            f.write(text)
    sys.path.insert(0, code)  # the embedded proclife, not an installed one
    status = 0
    try:
        for attempt in range(1, attempts + 1):
            print(f"replay {attempt} of at most {attempts}:")
            status = replay(code, tempfile.mkdtemp(dir=code, prefix="run-"))
            if status:
                break
        print({0: f"did not reproduce in {attempts} replays: every step agreed",
               1: f"reproduced (replay {attempt})"}.get(status, "the replay itself failed"))
    finally:
        shutil.rmtree(code, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
