"""The driver's line to the agents: starting the main program's agent, hellos, a command's round trip.

Every wait is on the hub's socket (and a pidfd while a hello is awaited), bounded by ``bound``;
an agent that cannot answer says why, with the tail of the agents' log.
"""

from __future__ import annotations

import compileall
import contextlib
import functools
import importlib
import itertools
import os
import py_compile
import subprocess
import sys
import time

from proclife.runtime.errors import AgentGoneError, HarnessError
from proclife.runtime.hub import Hub
from proclife.runtime.osproc import pid_alive
from proclife.runtime.protocol import Message

# What every agent's fresh interpreter imports of proclife: compiled once here, so that an
# environment that forbids writing bytecode at import (PYTHONDONTWRITEBYTECODE) does not make
# every agent compile them again (tens of milliseconds a start).
AGENT_MODULES = ("proclife", "proclife.runtime", "proclife.runtime.agent", "proclife.runtime.observer",
                 "proclife.runtime.impls", "proclife.runtime.protocol", "proclife.runtime.exitstatus",
                 "proclife.runtime.errors")


@functools.cache
def compile_agent_modules() -> None:
    for name in AGENT_MODULES:
        module = importlib.import_module(name)
        path = getattr(module, "__file__", None)
        if path:
            with contextlib.suppress(OSError, py_compile.PyCompileError):
                compileall.compile_file(path, quiet=2)


class Link:
    """The hub the agents connect to, and how a command reaches one and comes back."""

    def __init__(self, folder: str, bound: float) -> None:
        self.address = os.path.join(folder, "agents.sock")
        self.log_path = os.path.join(folder, "agents.log")
        self.bound = bound
        self.hub = Hub(self.address)
        self._seq = itertools.count(1)

    def start_main(self, impl_spec: str, env: dict[str, str], optimize: bool,
                   events: str | None = None) -> subprocess.Popen[bytes]:
        """Start model process 0, the main program of a fresh interpreter running the agent
        (observing itself and its children into ``events``)."""
        compile_agent_modules()
        argv = [sys.executable, *(["-O"] if optimize else []), "-m", "proclife.runtime.agent", "--impl", impl_spec,
                "--address", self.address, "--id", "0", *(["--events", events] if events else [])]
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                argv, cwd=os.getcwd(), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # a terminal's Ctrl-C reaches the driver, not the agents
            )

    def await_hello(self, ident: int, pid: int) -> Message:
        """Wait until P``ident``'s agent connects (or its process ends first); its hello."""
        hub = self.hub
        deadline = time.monotonic() + self.bound
        try:
            fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            fd = None
        try:
            hub.wait(lambda: ident in hub.hellos, deadline, extra=() if fd is None else (fd,))
        finally:
            if fd is not None:
                os.close(fd)
        hello = hub.hellos.get(ident)
        if hello is None:
            why = f"not within {self.bound}s" if pid_alive(pid) else "it ended first"
            raise HarnessError(f"P{ident} (pid {pid}) did not connect to the driver: {why}. {self.log_tail()}")
        if int(hello["pid"]) != pid:
            raise HarnessError(f"P{ident} was started as pid {pid} but its agent says pid {hello['pid']}")
        return hello

    def roundtrip(self, ident: int, cmd: Message, what: str, pid: int | None) -> Message:
        """Send ``cmd`` to P``ident``'s agent and wait for its acknowledgement; ``what`` names it in errors."""
        hub = self.hub
        seq = next(self._seq)
        cmd["seq"] = seq
        if ident not in hub.conns:
            raise HarnessError(f"{what}: P{ident} has no agent (was it started?)")
        if not hub.send(ident, cmd):
            raise AgentGoneError(
                f"{what}: P{ident} (pid {pid}) had ended before the command reached it",
                model_pid=ident,
            )
        deadline = time.monotonic() + self.bound
        hub.wait(lambda: seq in hub.acks or ident in hub.ended, deadline)
        reply = hub.acks.pop(seq, None)
        if reply is None:
            if ident in hub.ended:
                raise AgentGoneError(
                    f"{what}: P{ident} (pid {pid}) ended before acknowledging it", model_pid=ident,
                )
            raise HarnessError(
                f"{what}: no acknowledgement from P{ident} (pid {pid}) within "
                f"{self.bound}s. {self.log_tail()}"
            )
        if "error" in reply:
            raise HarnessError(f"{what}: P{ident} could not perform it: {reply['error']}")
        if hub.faults:
            raise HarnessError(f"{what}: an agent reported a fault: {'; '.join(hub.faults)}")
        return reply

    def log_tail(self, size: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - size))
                text = log.read().decode(errors="replace").strip()
        except OSError:
            return "(no agent log)"
        return f"agent log ({self.log_path}) ends with:\n{text}" if text else "(the agent log is empty)"

    def close(self) -> None:
        self.hub.close()
