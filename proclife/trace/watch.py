"""``--explain-after``: while the traced program runs, explain each process still alive that long
after its work ended, once, on stderr and in the trace (``explanations``).

The tracer waits on its children's ends (SIGCHLD); the sink is read again at least every
``RECHECK`` seconds of that wait, since a process's work ending is an event in the sink, which
wakes no one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proclife.runtime.observer import read_events
from proclife.trace.explain import due, explain

RECHECK = 0.25  # seconds between two readings of the sink while waiting


@dataclass
class Explainer:
    """Explains the held processes of one run."""

    sink: Path
    stacks: Path
    main_pid: int
    after: float
    explained: list[dict[str, Any]] = field(default_factory=list)

    def next_wake(self, deadline: float | None) -> float:
        soon = time.monotonic() + RECHECK
        return soon if deadline is None else min(deadline, soon)

    def check(self) -> None:
        """Explain the processes that became due since the last check."""
        if not self.sink.exists():
            return
        events = read_events(self.sink)
        now = time.monotonic_ns()
        done = {e["pid"] for e in self.explained}
        fresh = [pid for pid in due(events, self.main_pid, self.after, now) if pid not in done]
        if not fresh:
            return
        found = [e for e in explain(events, self.main_pid, fresh, self.stacks, now) if e["pid"] not in done]
        for item in found:
            sys.stderr.write(f"proclife trace: {item['text']}\n")
        sys.stderr.flush()
        self.explained.extend(found)
