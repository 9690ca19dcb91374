"""A deliberately wrong model: a child ends without joining its non-daemon threads.

``proclife explore --extend examples.early_exit:EXTENSION`` must catch it (exit status 1) and
print the shortest path to a child that terminated with a live non-daemon thread.
"""

from __future__ import annotations

from dataclasses import replace

from model.base import BASE
from model.extend import Extension
from model.spec import Source

_RULE = BASE.rule("process.child_joins_threads")

EXTENSION = Extension(
    name="early_exit",
    doc="the child's last exit phase no longer waits for its non-daemon threads",
    rules=(replace(_RULE, when=tuple(g for g in _RULE.when if g != "threads_done"),
                   source=Source("examples/early_exit.py: threads_done guard dropped", "extension")),),
)
