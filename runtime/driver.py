"""The test process's side of a run: performs model actions on real processes and watches them.

The driver is never the parent of a Process under test. Model process 0 is the main program
of a fresh interpreter (an agent); every other model process is created by its parent
agent through the implementation under test. The driver is a child subreaper while open
(``osproc.SUBREAPER``): the orphans of that tree come to it, and it reaps them by pid, never
with ``waitpid(-1)``. ``close()`` (also on ``with``, at interpreter exit, and with SIGINT and
SIGTERM held off while it runs) kills and reaps everything the run started; a SIGKILL of
the driver is covered by the agents' lifeline.

A thin composition, one module a job: ``commands`` (what an action asks of an agent, from
the spec), ``link`` (the hub and the agents on it), ``signals``, ``waits`` (settling,
reaping), ``cleanup`` (the end), ``processes`` (what they share, and the OS view).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from types import TracebackType

import psutil

from proclife.model.core.base import BASE
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Spec
from proclife.model.core.system import System
from proclife.runtime import statuses, waits
from proclife.runtime.cleanup import TOKEN_VAR, kill_everything
from proclife.runtime.commands import check_performable, command_for, drive_of, signal_number
from proclife.runtime.errors import HarnessError
from proclife.runtime.events import EventStream
from proclife.runtime.hub import Hub
from proclife.runtime.impls import Implementation
from proclife.runtime.link import Link
from proclife.runtime.observe import Snapshot
from proclife.runtime.observer_filter import filter_environment
from proclife.runtime.osproc import SUBREAPER, Known
from proclife.runtime.processes import Processes
from proclife.runtime.protocol import ACK
from proclife.runtime.signals import send_signal
from proclife.runtime.workdir import make as make_workdir
from proclife.runtime.workdir import temporary_dir_for_run


class Driver:
    """Runs one model run's processes: ``perform`` a step, ``await_settled``, ``observe``."""

    def __init__(
        self,
        impl: Implementation,
        *,
        join_timeout: float = 0.05,
        bound: float = 10.0,
        spec: Spec = BASE,
        optimize: bool = False,
        ahead: bool = False,
        observed: bool = True,
    ) -> None:
        """Start model process 0; with ``ahead``, return before it has said hello (``ready()`` waits),
        so a run's main program can start while the run before it still goes on. Without
        ``observed`` the processes run no observer (a bare run, the benchmark's baseline)."""
        check_performable(spec)
        self.impl = impl
        self.optimize = optimize  # agents run under `python -O` (children inherit the flag)
        self.join_timeout = join_timeout
        self.bound = bound
        self.spec = spec
        self.token = uuid.uuid4().hex
        self.python: str | None = None
        self.procs = Processes(impl.start_method)
        self.link: Link | None = None
        self.events: EventStream | None = None
        self._closed = False
        self._dir = make_workdir()  # records its owner; sweeps those a SIGKILLed run left
        self.address = os.path.join(self._dir, "agents.sock")
        atexit.register(self.close)
        self._reaping = False  # holding SUBREAPER (until close(): the run is reaped then)
        try:
            self._reaping = SUBREAPER.hold()
            self.link = Link(self._dir, bound)
            if observed:
                self.events = EventStream(self._dir)
                self.link.hub.watch(self.events.fileno(), self.events.read)
            self._launch_main()
            if not ahead:
                self.ready()
        except BaseException:
            self.close()
            raise

    # --- what the parts share, as before the split ---------------------------------------

    @property
    def known(self) -> dict[int, Known]:
        return self.procs.known

    @property
    def exitcodes(self) -> dict[int, int]:
        return self.procs.exitcodes

    @property
    def p0(self) -> subprocess.Popen[bytes] | None:
        return self.procs.p0

    @property
    def hub(self) -> Hub | None:
        return None if self.link is None else self.link.hub

    def _link(self) -> Link:
        if self.link is None:
            raise HarnessError("the driver has no listening socket; it failed to start")
        return self.link

    # --- context manager -------------------------------------------------------------

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # --- starting ------------------------------------------------------------------------

    def _launch_main(self) -> None:
        env = filter_environment(dict(os.environ))  # the observer's C filter (3.11), where it builds
        env[TOKEN_VAR] = self.token
        temporary = temporary_dir_for_run(self._dir)
        if temporary is not None:
            env["TMPDIR"] = temporary
        events = None if self.events is None else self.events.path
        self.procs.p0 = self._link().start_main(self.impl.spec, env, self.optimize, events)

    def ready(self) -> Driver:
        """Wait (bounded) until the main program's agent has said hello; safe to call again."""
        if self.python is None:
            if self.procs.p0 is None:
                raise HarnessError("the driver's main program was never started")
            try:
                hello = self._await_hello(0, self.procs.p0.pid)
            except BaseException:
                self.close()
                raise
            self.python = str(hello["python"])
        return self

    def _await_hello(self, ident: int, pid: int) -> dict[str, object]:
        hello = self._link().await_hello(ident, pid)
        self.procs.known[ident] = Known.of(pid) or Known(pid, -1.0)
        if "sigterm" in hello:
            self.procs.dispositions[ident] = str(hello["sigterm"])
        return hello

    def _started(self, ident: int, pid: int, parent: int) -> None:
        self._await_hello(ident, pid)
        if self.impl.start_method != "fork":
            self._learn_helpers(parent)

    def _learn_helpers(self, agent: int) -> None:
        """Remember the forkserver and resource tracker a start() launched, to reap them later."""
        proc = self.procs.known[agent].process()
        if proc is None:
            return
        agents = {k.pid for k in self.procs.known.values()}
        helpers = self.procs.helpers
        with contextlib.suppress(psutil.Error):
            for child in proc.children():
                if child.pid not in agents and child.pid not in helpers:
                    with contextlib.suppress(psutil.Error):
                        helpers[child.pid] = Known(child.pid, child.create_time())

    # --- one step ------------------------------------------------------------------------

    def perform(self, action: Action, before: System) -> str:
        """Execute one model action; the canonical observation (``"ack"`` if it has no value)."""
        if self._closed:
            raise HarnessError(f"{action.describe()}: the driver is closed; start a new Driver")
        try:
            event = self.spec.event(action.event)
        except KeyError:
            raise HarnessError(f"{action.describe()}: the spec has no event {action.event!r}") from None
        drive = drive_of(event, action)
        if drive.how == "signal":
            known = self.procs.known.get(action.pid)
            if known is None:
                raise HarnessError(f"{action.describe()}: P{action.pid} has no OS process to signal")
            send_signal(known, signal_number(drive), exiting=before.procs[action.pid].exiting,
                        deadline=time.monotonic() + self.bound)
            return ACK
        agent, cmd = command_for(event, action, before, self.join_timeout, self.bound)
        known = self.procs.known.get(agent)
        reply = self._link().roundtrip(agent, cmd, action.describe(), None if known is None else known.pid)
        if drive.op == "create_child":
            self.procs.count = max(self.procs.count, int(cmd["child"]) + 1)
            self.procs.parents[int(cmd["child"])] = agent
        if "sigterm" in reply:
            self.procs.dispositions[agent] = str(reply["sigterm"])
        fresh = drive.how == "call" and drive.name == "start" and action.pid not in self.procs.known
        if fresh and reply.get("pid") is not None:
            self._started(action.pid, int(reply["pid"]), agent)
        return str(reply["observed"])

    # --- watching ------------------------------------------------------------------------

    def observe(self) -> Snapshot:
        """The OS view of every model process, with every exit status readable now (see
        ``proclife.runtime.observe`` for how deep it goes)."""
        if not self._closed:
            statuses.collect(self.procs, self._link(), self.bound)
        return self.procs.observe()

    def await_settled(self, expected: System, stop: Callable[[], bool] = lambda: False) -> None:
        """Wait, bounded, until every process the model says has ended has ended as it says.

        Live processes are left alone: the caller compares ``observe()`` with the model (see
        ``proclife.runtime.waits``).
        """
        waits.await_settled(self.procs, self._link().hub, expected, time.monotonic() + self.bound, stop)

    # --- the end -------------------------------------------------------------------------

    def close(self) -> None:
        """Kill and reap every process the run started; remove the socket. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            survivors = kill_everything(self.procs, self.token, self.bound)
        finally:
            if self.link is not None:
                self.link.close()
            if self.events is not None:
                self.events.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            atexit.unregister(self.close)
            self._reaping = self._reaping and SUBREAPER.release()
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if survivors:
            raise HarnessError(
                f"after SIGKILL and {self.bound}s, still not gone: {survivors}; kill them by hand"
            )
