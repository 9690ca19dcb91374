"""The trace's exception types: each says what went wrong and what to do, and carries its exit status."""

from __future__ import annotations

from proclife.exits import HARNESS, USAGE


class TraceUsageError(Exception):
    """A command line or a trace file the user can fix; exit status 2."""

    exit_status = USAGE


class TraceFailed(Exception):
    """The tracing itself failed (no event recorded, a process that would not die); exit status 3."""

    exit_status = HARNESS
