"""What the OS shows of each model process, and what the model says it should show.

How deep each observation goes:
- ``os``: the kernel's view of the real pid (psutil, by pid and start time so a reused pid
  is never mistaken for ours). "none" means start() never gave the process a pid. "alive"
  cannot tell running from exiting (that shows only through the Process API); "zombie" vs
  "gone" is exact once ``Driver.await_settled`` has returned.
- ``adopted``: the real parent is the driver (a child subreaper), so the process is an
  orphan of the run's tree. Under forkserver a child's OS parent is the forkserver, so the
  OS parent is never compared with the model's parent, only adoption; and an orphan is
  never adopted while it lives, because it holds the write end of its dead parent's
  forkserver's "alive" pipe (passed with every fork request), which keeps that forkserver
  running (seen on 3.11.7 with ``ls -l /proc/PID/fd`` of the orphan and of its OS parent).
- ``exitcodes``: every exit status read so far, whether or not the path asks ``exitcode``:
  the driver's own (P0, adopted orphans, which it reaps) and those a living parent's agent
  read of its ended children without disturbing them (``proclife.runtime.exitstatus``);
  ``witnesses`` says who read each. A status is read once (it never changes) and compared
  at every step; one whose parent ended in the same step that reaped it is not seen.
- ``dispositions``: each agent's SIGTERM disposition, reported in its hello (what its start
  method carried over from its parent) and after each ``install_sigterm``; compared for
  every process the model says is still running or exiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proclife.model.core.base import REAPED
from proclife.model.core.system import System
from proclife.runtime.exitstatus import WITNESSES
from proclife.runtime.osproc import ALIVE, GONE, NONE, ZOMBIE

DRIVER_REAPED = "the driver reaped it"


def expected_os(system: System) -> dict[int, str]:
    """The kernel state each model process implies: new, running/exiting, zombie, reaped."""
    out: dict[int, str] = {}
    for pid, proc in enumerate(system.procs):
        if proc.life == "new":
            out[pid] = NONE
        elif proc.life == REAPED:
            out[pid] = GONE
        elif proc.terminated:
            out[pid] = ZOMBIE
        else:
            out[pid] = ALIVE
    return out


def expected_adopted(system: System, start_method: str = "fork") -> dict[int, bool]:
    """An orphan still running belongs to the subreaper (except under forkserver, see above)."""
    adoptable = start_method != "forkserver"
    return {
        pid: bool(adoptable and proc.orphan and not proc.terminated and proc.life != "new")
        for pid, proc in enumerate(system.procs)
    }


def expected_exitcodes(system: System) -> dict[int, int]:
    """The exit status of each process the model says has ended."""
    return {pid: proc.exitcode for pid, proc in enumerate(system.procs) if proc.exitcode is not None}


def expected_dispositions(system: System) -> dict[int, str]:
    """The SIGTERM disposition of each process the model says is running or exiting."""
    return {pid: proc.sigterm for pid, proc in enumerate(system.procs) if proc.running or proc.exiting}


@dataclass(frozen=True)
class Snapshot:
    """The OS view of every model process the run has made, keyed by model pid."""

    os: dict[int, str]
    adopted: dict[int, bool]
    pids: dict[int, int | None]
    exitcodes: dict[int, int] = field(default_factory=dict)
    start_method: str = "fork"
    witnesses: dict[int, str] = field(default_factory=dict)  # a WITNESSES key; absent: the driver reaped it
    dispositions: dict[int, str] = field(default_factory=dict)

    def mismatches(self, system: System) -> list[str]:
        """Each difference from the model, as one line; empty when they agree."""
        out = []
        for pid, want in expected_os(system).items():
            got = self.os.get(pid, NONE)
            if got != want:
                out.append(f"P{pid} (pid {self.pids.get(pid)}): model says {want}, the OS shows {got}")
        for pid, want_adopted in expected_adopted(system, self.start_method).items():
            got_adopted = self.adopted.get(pid, False)
            if got_adopted != want_adopted:
                which = "an orphan adopted by the driver" if want_adopted else "not adopted"
                out.append(f"P{pid} (pid {self.pids.get(pid)}): model says {which}, the OS disagrees")
        for pid, model_code in expected_exitcodes(system).items():
            code = self.exitcodes.get(pid)
            if code is not None and model_code != code:
                witness = WITNESSES.get(self.witnesses.get(pid, ""), DRIVER_REAPED)
                out.append(f"P{pid} (pid {self.pids.get(pid)}): model says exit code {model_code}, "
                           f"it ended with {code} ({witness})")
        for pid, want_disposition in expected_dispositions(system).items():
            seen = self.dispositions.get(pid)
            if seen is not None and seen != want_disposition:
                out.append(f"P{pid} (pid {self.pids.get(pid)}): model says its SIGTERM disposition is "
                           f"{want_disposition}, its agent reports {seen}")
        return out
