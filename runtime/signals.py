"""Sending a signal to a run's process from outside, as the model's signal events do."""

from __future__ import annotations

import contextlib
import os
import signal

from proclife.runtime.osproc import Known, main_thread_asleep


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
        if known.process() is not None:  # the pidfd names our process, not a reused pid
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, number)
    finally:
        os.close(fd)
