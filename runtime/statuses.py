"""The driver's side of full observation: the exit status of every ended child, read by its living parent.

After every step the driver asks each living parent agent, in one round trip, for the statuses
of its children that the OS shows ended and whose status is not known yet (a status never
changes, so each is read once; see ``proclife.runtime.exitstatus`` for how, without reaping or
polling). A parent that is gone is not asked: its children's statuses went with it (or, for
orphans, come to the driver as subreaper, ``waits.reap_adopted``).
"""

from __future__ import annotations

from proclife.runtime.errors import AgentGoneError
from proclife.runtime.link import Link
from proclife.runtime.osproc import ALIVE
from proclife.runtime.processes import Processes
from proclife.runtime.protocol import Message


def unread(procs: Processes, link: Link) -> dict[int, list[int]]:
    """Living parent agent -> its ended children whose exit status nobody has read yet."""
    hub = link.hub
    out: dict[int, list[int]] = {}
    for ident in sorted(procs.known):
        parent = procs.parents.get(ident)
        if ident in procs.exitcodes or parent is None or parent not in hub.conns or parent in hub.ended:
            continue
        if procs.state(ident) != ALIVE:
            out.setdefault(parent, []).append(ident)
    return out


def collect(procs: Processes, link: Link, bound: float) -> None:
    """Read, through their parents' agents, the exit statuses of ended children not yet known."""
    for parent, children in unread(procs, link).items():
        cmd: Message = {"op": "statuses", "thread": "control", "children": children, "timeout": bound / 2}
        try:
            reply = link.roundtrip(parent, cmd, f"reading the exit status of {_names(children)}",
                                   procs.known[parent].pid)
        except AgentGoneError:
            continue  # the parent ended meanwhile: its children's statuses are no longer anyone's to read
        for ident, (code, witness) in reply.get("statuses", {}).items():
            procs.exitcodes[int(ident)] = int(code)
            procs.witnesses[int(ident)] = str(witness)


def _names(idents: list[int]) -> str:
    return ", ".join(f"P{i}" for i in idents)
