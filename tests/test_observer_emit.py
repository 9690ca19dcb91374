"""The C filters' writer of an event's line (``emit``) writes the line the observer's Python writes.

In a forked child each object the Python writer touches is a page copied from the parent; the C
one reads the thread and the details without taking a reference. Its lines must be the Python
writer's, byte for byte, or it must leave the event to the Python writer (a line too long, a float
that is not finite, a key that is not a str, an int beyond 64 bits, a thread without a str name).
"""

from __future__ import annotations

import enum
import os
import signal
import threading
from collections.abc import Iterator
from importlib import machinery
from typing import Any

import pytest

from proclife.runtime import observer
from proclife.runtime.observer_filter import built_filter


class Colour(enum.IntEnum):
    RED = 3


class Name(str):
    pass


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque \"quoted\" \u00e9>"


DETAILS: list[dict[str, Any]] = [
    {},
    {"name": "ForkProcess-1", "daemon": False, "class": "ForkProcess", "method": "fork", "child": 4242},
    {"text": "quote \" backslash \\ newline \n tab \t return \r bell \x07 feed \f back \b del \x7f"},
    {"text": "caf\u00e9 \u4e2d\u6587 \U0001f600 \ud7ff \ue000"},
    {"ints": [0, -1, 2**62, -(2**63)], "bools": (True, False, None)},
    {"floats": [0.1, 1e-07, 123456789.0, -2.5, 1e300]},
    {"nested": {"a": [1, {"b": (2, "c")}], "d": {}}, "empty": [], "none": None},
    {"signal": signal.SIGTERM, "colour": Colour.RED, "named": Name("sub\u00e9")},
    {"object": Opaque(), "type": int},
    {"huge": 2**70},  # left to Python
    {"nan": float("nan"), "inf": float("inf")},  # left to Python
    {"keys": {1: "one"}},  # left to Python
    {"long": "x" * 5000},  # left to Python: truncated there
]


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    built = built_filter()
    assert built is not None, "the C filters did not build: is gcc installed?"
    loader = machinery.ExtensionFileLoader("_proclife_filter", str(built))
    filters = loader.create_module(machinery.ModuleSpec("_proclife_filter", loader, origin=str(built)))
    filters.emit_arm(threading._active)  # type: ignore[attr-defined]
    read, write = os.pipe()
    monkeypatch.setattr(observer._S, "fd", write)
    monkeypatch.setattr(observer._S, "pid", os.getpid())
    monkeypatch.setattr(observer, "_C_EMIT", filters.emit)
    yield read
    os.close(read)
    os.close(write)


def _line(read: int, c_writer: Any, kind: str, end: int | None, thread: Any, details: dict[str, Any]) -> bytes:
    observer._C_EMIT = c_writer
    observer._emit(kind, 123, end, as_thread=thread, **details)
    data = os.read(read, 65536)
    assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    return data


LEFT_TO_PYTHON = 4  # the last DETAILS


@pytest.mark.parametrize("index", range(len(DETAILS)))
def test_the_c_writer_writes_the_python_writers_line(sink: int, index: int) -> None:
    c_writer, details = observer._C_EMIT, DETAILS[index]
    worker = threading.Thread(name="W\u00f6rker \"2\"", daemon=True)
    for kind, end, thread in (("probe", None, None), ("probe_end", 456, worker)):
        written = c_writer(observer._S.fd, kind, 123, end, thread, details)
        assert written == (1 if index >= len(DETAILS) - LEFT_TO_PYTHON else 0)  # 1: nothing written
        if written == 0:
            os.read(sink, 65536)
        mine = _line(sink, c_writer, kind, end, thread, details)
        theirs = _line(sink, None, kind, end, thread, details)
        assert mine == theirs


def test_the_c_writer_leaves_what_it_cannot_write_the_same_way(sink: int) -> None:
    c_writer = observer._C_EMIT
    fd = observer._S.fd
    assert c_writer(fd, "probe", 1, None, None, {"ok": 1}) == 0
    assert os.read(sink, 65536).startswith(b'{"pid":')
    for details in ({"huge": 2**70}, {"nan": float("nan")}, {"keys": {1: "one"}}, {"long": "x" * 5000}):
        assert c_writer(fd, "probe", 1, None, None, details) == 1  # nothing written: the Python writer's
    nameless = threading.Thread(name="x")
    nameless._name = 7  # type: ignore[assignment]  # (the Python writer then asks the thread itself)
    assert c_writer(fd, "probe", 1, None, nameless, {}) == 1
    gone = os.open(os.devnull, os.O_RDONLY)  # a descriptor not open for writing: refused, counted dropped
    try:
        assert c_writer(gone, "probe", 1, None, None, {}) == -1
    finally:
        os.close(gone)
