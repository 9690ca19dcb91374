"""Errors of the runtime, each with the exit status the command line turns it into.

A run must never let a broken harness pass for a finding about Python, so the harness's
own failures (status 3) are kept apart from a bad ``--impl`` (status 2) and from a process
that vanished under the model's feet (status 1, a disagreement to report).
"""

from __future__ import annotations


class RuntimeHarnessFault(Exception):
    """Base of every runtime error; ``exit_status`` is what ``proclife`` exits with."""

    exit_status: int = 3


class HarnessError(RuntimeHarnessFault):
    """The harness itself failed, or a bound expired while waiting on its own plumbing."""

    exit_status = 3


class ImplementationError(RuntimeHarnessFault, ValueError):
    """An ``--impl`` spec names no implementation, or the one it names cannot be loaded."""

    exit_status = 2


class UnperformableError(RuntimeHarnessFault, ValueError):
    """A model (an extension, say) has an event whose drive the runtime cannot perform."""

    exit_status = 2


class AgentGoneError(RuntimeHarnessFault):
    """A process ended before it acknowledged a command the model expected it to perform.

    This is an observation, not a harness fault: compare ``Driver.observe()`` with the model.
    """

    exit_status = 1

    def __init__(self, message: str, *, model_pid: int) -> None:
        super().__init__(message)
        self.model_pid = model_pid
