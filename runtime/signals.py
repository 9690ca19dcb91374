"""Sending a signal to a run's process from outside, as the model's signal events do."""

from __future__ import annotations

import os
import signal
import time

from proclife.runtime.errors import HarnessError
from proclife.runtime.osproc import Known, main_thread_asleep, remaining

DELIVERY_SLICE = 0.0005  # how often the kernel's pending mask is read while a signal is in flight


def send_signal(known: Known, number: int, *, exiting: bool, deadline: float) -> None:
    """Send signal ``number`` to ``known`` through a pidfd, so that a reused pid is never hit.

    A process the model has in its exit sequence is signalled once its main thread sleeps
    there (bounded by ``deadline``): the model's settled phase, not a moment before it. A
    process already reaped gets nothing, as kill(2) would find nothing.
    """
    if exiting:
        main_thread_asleep(known.pid, deadline)
    try:
        fd = os.pidfd_open(known.pid)
    except ProcessLookupError:
        return
    try:
        if known.process() is None:  # the pidfd names another process: ours is gone
            return
        try:
            signal.pidfd_send_signal(fd, number)
        except ProcessLookupError:
            return
    finally:
        os.close(fd)
    await_delivery(known.pid, number, deadline)


def await_delivery(pid: int, number: int, deadline: float) -> None:
    """Wait until the kernel has delivered signal ``number`` to ``pid``: no longer pending for the
    process, or the process stopped (a stopped process keeps later signals pending: that is a
    fact of its state, not of the delay), or ended. Nothing in the process can acknowledge a
    delivery (a default action or SIG_IGN runs no code of its own), so the kernel's own record
    is read (/proc/PID/status: ShdPnd, State). Signals sent one after the other then arrive in
    the order the steps say: without this, a SIGTERM sent right after a SIGSTOP could be
    dequeued first (the kernel takes the lower number first) and kill a process the model has
    stopped. A bound that expires is a harness error naming the signal.
    """
    bit = 1 << (number - 1)
    while True:
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            return  # gone
        state = fields.get("State", "").split()[0:1]
        if state and state[0] in ("T", "t", "Z", "X"):
            return
        if not int(fields.get("ShdPnd", "0").strip() or "0", 16) & bit:
            return
        if remaining(deadline) <= 0:
            raise HarnessError(f"signal {signal.Signals(number).name} stayed pending for pid {pid} until the "
                               f"bound: the process blocks it; nothing the model says can happen next")
        time.sleep(DELIVERY_SLICE)  # sleep-ok: no event exists for "delivered"; re-read the pending mask, bounded
