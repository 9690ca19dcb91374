"""``--explain-after``: while the traced program runs, explain each process still alive that long
after its work ended, once, on stderr and in the trace (``explanations``).

Called by the tracer while it waits (``proclife.trace.record``: at least every WATCH_EVERY
seconds), since a process's work ending is an event in the sink, which wakes no one. The model's
state comes from the run so far decided against the model (``proclife.trace.modelstate``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from proclife.runtime.observer import read_events
from proclife.trace.build import build
from proclife.trace.explain import due, explain
from proclife.trace.modelstate import lives
from proclife.trace.record import Recording


@dataclass
class Explainer:
    """Explains the held processes of one run (``after``: the seconds a process may stay)."""

    after: float
    profile: str | None = None
    explained: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, rec: Recording) -> None:
        """Explain the processes that became due since the last call."""
        if not rec.sink.exists() or not rec.main_pid:
            return
        events = read_events(rec.sink)
        now = time.monotonic_ns()
        done = {e["pid"] for e in self.explained}
        fresh = [pid for pid in due(events, rec.main_pid, self.after, now) if pid not in done]
        if not fresh:
            return
        model = lives(build(rec), self.profile)
        found = [e for e in explain(events, rec.main_pid, fresh, rec.stacks, now, model) if e["pid"] not in done]
        for item in found:
            sys.stderr.write(f"proclife trace: {item['text']}\n")
        sys.stderr.flush()
        self.explained.extend(found)
