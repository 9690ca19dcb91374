"""Argument values as a path gives them: any JSON value, made hashable for the engine and back.

An action is a key of the engine's caches and of the explorer's sets, so a JSON list becomes
a tuple and a JSON object a ``FrozenObject``; ``thaw`` gives back the JSON value, which is what
the path file holds and what the agent performs (``sys.exit([1, 2])``).
"""

from __future__ import annotations

# An exit status the model states: CPython converts it to a C int (``os._exit`` raises
# OverflowError past it; ``sys.exit``'s behaviour past it depends on the start method).
C_INT = range(-(2**31), 2**31)


class FrozenObject(tuple):  # type: ignore[type-arg]
    """A JSON object as its sorted (key, value) pairs."""

    __slots__ = ()


def freeze(value: object) -> object:
    """A hashable form of a JSON value (lists as tuples, objects as ``FrozenObject``)."""
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return FrozenObject(sorted((str(k), freeze(v)) for k, v in value.items()))
    return value


def thaw(value: object) -> object:
    """The JSON value ``freeze`` made hashable."""
    if isinstance(value, FrozenObject):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def is_exit_int(value: object) -> bool:
    """An int (a bool is one) that CPython takes as a C int exit status."""
    return isinstance(value, int) and value in C_INT
