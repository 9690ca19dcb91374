"""The real processes of one run, by model pid: what the driver's parts share, and the OS view of them."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from proclife.runtime.observe import Snapshot
from proclife.runtime.osproc import GONE, NONE, Known


@dataclass
class Processes:
    """Every process a run started (model pid -> ``Known``), the helpers an implementation
    launched (forkserver, resource tracker), and what was learnt of their ends."""

    start_method: str
    known: dict[int, Known] = field(default_factory=dict)
    helpers: dict[int, Known] = field(default_factory=dict)
    exitcodes: dict[int, int] = field(default_factory=dict)
    witnesses: dict[int, str] = field(default_factory=dict)  # who read each exit status (default: the driver)
    parents: dict[int, int] = field(default_factory=dict)  # model pid -> the agent that created it
    dispositions: dict[int, str] = field(default_factory=dict)  # SIGTERM, as each agent last reported it
    gone: set[int] = field(default_factory=set)  # seen gone: a pid never comes back, skip the kernel
    count: int = 1  # model pids 0 .. count-1 exist (a created child has no OS process yet)
    p0: subprocess.Popen[bytes] | None = None

    def state(self, ident: int) -> str:
        """What the kernel shows of model process ``ident``: alive, zombie or gone."""
        if ident in self.gone:
            return GONE
        state = self.known[ident].state()
        if state == GONE:
            self.gone.add(ident)
        return state

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
            state = self.state(ident)
            states[ident], pids[ident] = state, known.pid
            adopted[ident] = ident != 0 and state != GONE and known.ppid() == me
        return Snapshot(states, adopted, pids, dict(self.exitcodes), self.start_method, dict(self.witnesses),
                        dict(self.dispositions))
