"""The test process's side of a run: performs model actions on real processes and watches them.

The driver is never the parent of a Process under test. Model process 0 is the main program
of a fresh interpreter (an agent); every other model process is created by its parent
agent through the implementation under test. The driver makes itself a child subreaper,
so the orphans of that tree come to it, and it reaps them by pid, never with
``waitpid(-1)``. ``close()`` (also on ``with``, at interpreter exit, and with SIGINT and
SIGTERM held off while it runs) kills and reaps everything the run started; a SIGKILL of
the driver is covered by the agents' lifeline.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from types import TracebackType

import psutil

from proclife.model.core.base import BASE
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Spec
from proclife.model.core.system import System
from proclife.runtime.commands import check_performable, command_for, drive_of, signal_number
from proclife.runtime.errors import AgentGoneError, HarnessError
from proclife.runtime.hub import Hub
from proclife.runtime.impls import Implementation
from proclife.runtime.observe import Snapshot, expected_adopted, expected_os
from proclife.runtime.osproc import (
    GONE,
    NONE,
    ZOMBIE,
    Known,
    main_thread_asleep,
    make_subreaper,
    pid_alive,
    reap,
    remaining,
    wait_exit,
    wait_gone,
    wait_pid_or,
)
from proclife.runtime.protocol import ACK, Message
from proclife.runtime.workdir import make as make_workdir

TOKEN_VAR = "PROCLIFE_RUN"
REAP_SLICE = 0.02  # how often to look whether a zombie's living parent has collected it


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
    ) -> None:
        self.impl = impl
        self.optimize = optimize  # agents run under `python -O` (children inherit the flag)
        self.join_timeout = join_timeout
        self.bound = bound
        check_performable(spec)
        self.spec = spec
        self.token = uuid.uuid4().hex
        self.python: str | None = None
        self.known: dict[int, Known] = {}
        self.helpers: dict[int, Known] = {}
        self.exitcodes: dict[int, int] = {}
        self.gone: set[int] = set()  # model pids seen gone: a pid never comes back, skip the kernel
        self.count = 1
        self.p0: subprocess.Popen[bytes] | None = None
        self.hub: Hub | None = None
        self._seq = itertools.count(1)
        self._closed = False
        self._dir = make_workdir()  # records its owner; sweeps those a SIGKILLed run left
        self.address = os.path.join(self._dir, "agents.sock")
        self.log_path = os.path.join(self._dir, "agents.log")
        atexit.register(self.close)
        try:
            make_subreaper()
            self.hub = Hub(self.address)
            self._start_main()
        except BaseException:
            self.close()
            raise

    # --- context manager -------------------------------------------------------------

    def __enter__(self) -> Driver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- starting ------------------------------------------------------------------------

    def _start_main(self) -> None:
        env = dict(os.environ)
        env[TOKEN_VAR] = self.token
        argv = [sys.executable, *(["-O"] if self.optimize else []), "-m", "proclife.runtime.agent", "--impl", self.impl.spec,
                "--address", self.address, "--id", "0"]
        with open(self.log_path, "ab") as log:
            self.p0 = subprocess.Popen(
                argv, cwd=os.getcwd(), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # a terminal's Ctrl-C reaches the driver, not the agents
            )
        hello = self._await_hello(0, self.p0.pid)
        self.python = str(hello["python"])

    def _await_hello(self, ident: int, pid: int) -> Message:
        hub = self._hub()
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
            raise HarnessError(
                f"P{ident} (pid {pid}) did not connect to the driver: {why}. {self._log_tail()}"
            )
        if int(hello["pid"]) != pid:
            raise HarnessError(f"P{ident} was started as pid {pid} but its agent says pid {hello['pid']}")
        self.known[ident] = Known.of(pid) or Known(pid, -1.0)
        return hello

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
            return self._signal(action, before, signal_number(drive))
        agent, cmd = command_for(event, action, before, self.join_timeout, self.bound)
        reply = self._roundtrip(agent, cmd, action)
        if drive.op == "create_child":
            self.count = max(self.count, int(cmd["child"]) + 1)
        fresh = drive.how == "call" and drive.name == "start" and action.pid not in self.known
        if fresh and reply.get("pid") is not None:
            self._started(action.pid, int(reply["pid"]), agent)
        return str(reply["observed"])

    def _roundtrip(self, ident: int, cmd: Message, action: Action) -> Message:
        hub = self._hub()
        seq = next(self._seq)
        cmd["seq"] = seq
        pid = self.known[ident].pid if ident in self.known else None
        if ident not in hub.conns:
            raise HarnessError(f"{action.describe()}: P{ident} has no agent (was it started?)")
        if not hub.send(ident, cmd):
            raise AgentGoneError(
                f"{action.describe()}: P{ident} (pid {pid}) had ended before the command reached it",
                model_pid=ident,
            )
        deadline = time.monotonic() + self.bound
        hub.wait(lambda: seq in hub.acks or ident in hub.ended, deadline)
        reply = hub.acks.pop(seq, None)
        if reply is None:
            if ident in hub.ended:
                raise AgentGoneError(
                    f"{action.describe()}: P{ident} (pid {pid}) ended before acknowledging it",
                    model_pid=ident,
                )
            raise HarnessError(
                f"{action.describe()}: no acknowledgement from P{ident} (pid {pid}) within "
                f"{self.bound}s. {self._log_tail()}"
            )
        if "error" in reply:
            raise HarnessError(f"{action.describe()}: P{ident} could not perform it: {reply['error']}")
        if hub.faults:
            raise HarnessError(f"{action.describe()}: an agent reported a fault: {'; '.join(hub.faults)}")
        return reply

    def _started(self, ident: int, pid: int, parent: int) -> None:
        self._await_hello(ident, pid)
        if self.impl.start_method != "fork":
            self._learn_helpers(parent)

    def _learn_helpers(self, agent: int) -> None:
        """Remember the forkserver and resource tracker a start() launched, to reap them later."""
        proc = self.known[agent].process()
        if proc is None:
            return
        agents = {k.pid for k in self.known.values()}
        with contextlib.suppress(psutil.Error):
            for child in proc.children():
                if child.pid not in agents and child.pid not in self.helpers:
                    with contextlib.suppress(psutil.Error):
                        self.helpers[child.pid] = Known(child.pid, child.create_time())

    def _signal(self, action: Action, before: System, number: int) -> str:
        known = self.known.get(action.pid)
        if known is None:
            raise HarnessError(f"{action.describe()}: P{action.pid} has no OS process to signal")
        if before.procs[action.pid].exiting:
            # Land where the model's settled phase is: its main thread blocked in the exit sequence.
            main_thread_asleep(known.pid, time.monotonic() + self.bound)
        try:
            fd = os.pidfd_open(known.pid)
        except ProcessLookupError:
            return ACK  # reaped already: kill(2) would find nothing
        try:
            if known.process() is not None:  # the pidfd names our process, not a reused pid
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, number)
        finally:
            os.close(fd)
        return ACK

    # --- watching ------------------------------------------------------------------------

    def observe(self) -> Snapshot:
        """The OS view of every model process (see ``proclife.runtime.observe`` for how deep it goes)."""
        me = os.getpid()
        states: dict[int, str] = {}
        adopted: dict[int, bool] = {}
        pids: dict[int, int | None] = {}
        for ident in range(self.count):
            known = self.known.get(ident)
            if known is None:
                states[ident], adopted[ident], pids[ident] = NONE, False, None
                continue
            state = self._state(ident)
            states[ident], pids[ident] = state, known.pid
            adopted[ident] = ident != 0 and state != GONE and known.ppid() == me
        return Snapshot(states, adopted, pids, dict(self.exitcodes), self.impl.start_method)

    def await_settled(self, expected: System) -> None:
        """Wait, bounded, until every process the model says has ended has ended as it says.

        Waits are event-driven: the agent's connection closing (its descriptors are gone),
        a pidfd turning readable (it has exited), ``Popen.wait`` for P0, then psutil for a
        zombie collected by someone else. Live processes are left alone: the caller compares
        ``observe()`` with the model. A bound that expires is not an error here; the
        comparison that follows shows what did not happen.
        """
        hub = self._hub()
        deadline = time.monotonic() + self.bound
        want = expected_os(expected)
        for ident, state in want.items():
            known = self.known.get(ident)
            if state in (ZOMBIE, GONE) and known is not None and ident not in self.gone:
                hub.wait(lambda i=ident: i in hub.ended or i not in hub.conns, deadline)  # type: ignore[misc]
                wait_exit(known, deadline)
        for ident, state in want.items():
            if state == GONE and ident in self.known:
                self._await_gone(ident, deadline)
        for ident, orphan in expected_adopted(expected, self.impl.start_method).items():
            if orphan and ident in self.known:
                self._await_adopted(self.known[ident], deadline)
        self._reap_adopted()

    def ended_within(self, idents: list[int], grace: float) -> list[int]:
        """Which of ``idents`` end within ``grace`` seconds: the check of a "must stay alive" prediction.

        Waits on each process's pidfd (readable once it has exited); the bound expiring with
        nothing readable is the observation that they stayed alive.
        """
        fds: dict[int, int] = {}
        try:
            for ident in idents:
                known = self.known.get(ident)
                if known is None:
                    continue
                try:
                    fds[os.pidfd_open(known.pid)] = ident
                except ProcessLookupError:
                    return [ident]
            if not fds:
                return []
            ready, _, _ = select.select(list(fds), [], [], grace)
            return sorted(fds[fd] for fd in ready)
        finally:
            for fd in fds:
                os.close(fd)

    def _await_gone(self, ident: int, deadline: float) -> None:
        known = self.known[ident]
        if ident == 0:
            assert self.p0 is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.exitcodes[0] = self.p0.wait(timeout=remaining(deadline))
            return
        me = os.getpid()
        while remaining(deadline) > 0 and self._state(ident) != GONE:
            parent = known.ppid()
            if parent == me:
                code = reap(known)
                if code is not None:
                    self.exitcodes[ident] = code
                return
            # Reaping by a living parent gives no event; the parent's own exit does (then the
            # zombie comes to the subreaper): wake on that, and look again every slice.
            slice_end = min(deadline, time.monotonic() + REAP_SLICE)
            if not wait_pid_or(parent, slice_end):
                wait_gone(known, slice_end)

    @staticmethod
    def _await_adopted(known: Known, deadline: float) -> None:
        """An orphan is re-parented when its OS parent exits: wait on that parent's pidfd."""
        me = os.getpid()
        while remaining(deadline) > 0:
            parent = known.ppid()
            if parent is None or parent == me:
                return
            wait_pid_or(parent, deadline)

    def _reap_adopted(self) -> None:
        """The subreaper collects its orphans at once, as the model's reaped_by_other says."""
        me = os.getpid()
        for ident, known in self.known.items():
            if ident != 0 and self._state(ident) == ZOMBIE and known.ppid() == me:
                code = reap(known)
                if code is not None:
                    self.exitcodes[ident] = code
        for known in self.helpers.values():
            if known.state() == ZOMBIE and known.ppid() == me:
                reap(known)

    def _state(self, ident: int) -> str:
        if ident in self.gone:
            return GONE
        state = self.known[ident].state()
        if state == GONE:
            self.gone.add(ident)
        return state

    # --- the end -------------------------------------------------------------------------

    def close(self) -> None:
        """Kill and reap every process the run started; remove the socket. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            survivors = self._kill_everything()
        finally:
            if self.hub is not None:
                self.hub.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            atexit.unregister(self.close)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if survivors:
            raise HarnessError(
                f"after SIGKILL and {self.bound}s, still not gone: {survivors}; kill them by hand"
            )

    def _ours(self) -> dict[int, psutil.Process]:
        """Every live process of this run: known ones, their descendants, token-marked adoptees."""
        found: dict[int, psutil.Process] = {}
        roots = list(self.known.values()) + list(self.helpers.values())
        if self.p0 is not None and self.p0.returncode is None and 0 not in self.known:
            roots.append(Known.of(self.p0.pid) or Known(self.p0.pid, -1.0))
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
                    if proc.environ().get(TOKEN_VAR) == self.token:
                        found[proc.pid] = proc
        return found

    def _kill_everything(self) -> list[int]:
        victims: dict[int, psutil.Process] = {}
        for _round in range(3):
            fresh = {pid: p for pid, p in self._ours().items() if pid not in victims}
            if not fresh:
                break
            for proc in fresh.values():
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            victims.update(fresh)
        deadline = time.monotonic() + self.bound
        p0_pid = None if self.p0 is None else self.p0.pid
        if self.p0 is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.p0.wait(timeout=remaining(deadline))
        others = [p for pid, p in victims.items() if pid != p0_pid]
        # Our own children are reaped by psutil's waitpid(pid); the rest are awaited.
        _, alive = psutil.wait_procs(others, timeout=remaining(deadline))
        self._reap_adopted()
        survivors = [p.pid for p in alive]
        if self.p0 is not None and self.p0.poll() is None:
            survivors.append(self.p0.pid)
        return survivors

    # --- helpers -------------------------------------------------------------------------

    def _hub(self) -> Hub:
        if self.hub is None:
            raise HarnessError("the driver has no listening socket; it failed to start")
        return self.hub

    def _log_tail(self, size: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - size))
                text = log.read().decode(errors="replace").strip()
        except OSError:
            return "(no agent log)"
        return f"agent log ({self.log_path}) ends with:\n{text}" if text else "(the agent log is empty)"

