"""The wire between the driver and its agents: JSON lines, and the canonical observations.

Observations are strings in exactly the form ``proclife.model.core.engine.Transition.observed`` takes, so
that a conformance check is string equality. Both ends import this module; it imports
nothing from either.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # the agent imports this module: typing costs every fresh interpreter milliseconds
if TYPE_CHECKING:
    from typing import Any

ACK = "ack"
# Events whose value is an OS resource number: only "an int" can be compared with the model.
OPAQUE_INTS = frozenset({"pid", "sentinel"})
# An agent that loses its driver leaves at once with this status (the lifeline).
LIFELINE_EXIT = 86

if TYPE_CHECKING:
    Message = dict[str, Any]
else:
    Message = dict


def canonical_exception(exc: BaseException) -> str:
    """``AssertionError: cannot start a process twice``: the form the model predicts."""
    return f"{type(exc).__name__}: {exc}"


def canonical_value(event: str, value: object) -> str:
    """``repr`` of a result, except that a pid or a sentinel is only known to be an int."""
    if event in OPAQUE_INTS and isinstance(value, int) and not isinstance(value, bool):
        return "<int>"
    return repr(value)


def encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class LineBuffer:
    """Collects bytes from a stream socket and yields each complete JSON message."""

    def __init__(self) -> None:
        self._data = b""

    def feed(self, data: bytes) -> list[Message]:
        self._data += data
        out: list[Message] = []
        while True:
            line, sep, rest = self._data.partition(b"\n")
            if not sep:
                return out
            self._data = rest
            out.append(json.loads(line))
