"""``proclife why PID``: what holds a process of a traced run in progress, now.

The run is found through the list ``proclife trace`` keeps of its runs in progress
(``proclife.trace.registry``); the process's events so far and its threads' stacks (asked for
now) give its exit phase and what it waits for, as ``--explain-after`` says it.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from proclife.exits import OK
from proclife.runtime.observer import read_events
from proclife.trace.build import build
from proclife.trace.errors import TraceUsageError
from proclife.trace.explain import explain
from proclife.trace.modelstate import lives
from proclife.trace.record import Recording
from proclife.trace.registry import RunEntry, folder, run_of


def _model(entry: RunEntry) -> dict[int, list[str]]:
    """The lives the model allows each process of the run so far (as ``--explain-after`` has them)."""
    so_far = Recording([], Path(entry.sink), 0, time.time(), main_pid=entry.main_pid, tracer_pid=entry.tracer_pid)
    return lives(build(so_far))


@click.command("why")
@click.argument("pid", type=click.IntRange(min=1))
def command(pid: int) -> None:
    """Say what holds process PID of a run traced by `proclife trace` now: its exit phase, what it
    waits for (a thread, a child, a Queue's feeder), and where each of its threads is blocked."""
    entry = run_of(pid)
    if entry is None:
        raise TraceUsageError(f"pid {pid} is not in a traced run in progress (none listed in {folder()} has an "
                              "event from it); run the program under `proclife trace -- python PROGRAM.py` and ask "
                              "while it runs")
    found = explain(read_events(entry.sink), entry.main_pid, [pid], Path(entry.stacks), time.monotonic_ns(),
                    _model(entry))
    mine = next((item for item in found if item["pid"] == pid), None)
    if mine is None or (mine["stacks_error"] and "has ended" in mine["stacks_error"]):
        raise TraceUsageError(f"pid {pid} of the traced run of pid {entry.main_pid} has ended; ask about a process "
                              "still running")
    click.echo(mine["text"])
    if mine["model_states"]:
        click.echo(f"  the model allows it now: {', '.join(mine['model_states'])}")
    if mine["stacks_error"]:
        click.echo(f"  no stacks: {mine['stacks_error']}")
    for thread in mine["threads"]:
        daemon = "daemon" if thread["daemon"] else "non-daemon"
        click.echo(f"  thread '{thread['name']}' ({daemon}): blocked in {thread['blocked_in']}")
    raise SystemExit(OK)
