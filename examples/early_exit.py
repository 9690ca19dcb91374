"""A deliberately wrong model: a child ends without joining its non-daemon threads.

``proclife explore --extend examples.early_exit:EXTENSION`` must catch it (exit status 1) and
print the shortest path to a child that terminated with a live non-daemon thread.
"""

from __future__ import annotations

from dataclasses import replace

from proclife.model.core.base import BASE
from proclife.model.core.extend import Extension
from proclife.model.core.spec import Source

# The child's thread-join phase, in the 3.11/3.12 order and in the 3.13 one.
_RULES = [BASE.rule("process.child_joins_threads"), BASE.rule("process.child_joins_threads_atexit")]

EXTENSION = Extension(
    name="early_exit",
    doc="a child's exit sequence no longer waits for its non-daemon threads",
    rules=tuple(
        replace(rule, when=tuple(g for g in rule.when if g != "threads_done"),
                source=Source("examples/early_exit.py: threads_done guard dropped", "extension"))
        for rule in _RULES
    ),
)
