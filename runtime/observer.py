"""The in-process lifecycle observer: a process reports its own lifecycle facts as they happen.

Installed inside a Python process (``install(path)``, or ``install_from_environment()`` from a
``sitecustomize``), it writes one JSON line per fact to a sink shared by the whole process tree:
a process created and started, a target's begin and end (and how), the exit sequence's steps,
each signal sent, each join of a child or a thread (begun and returned, with the reaping), thread
starts and ends, signal dispositions, forks and execs. docs/observer.md is the event schema.

Why it is built this way:
- It starts no thread (on 3.12+ a thread makes every fork warn, and ``threading.active_count()``
  would change) and imports only the standard library: it is loaded into users' programs and
  copied into reproducer scripts, so this file stands alone (no proclife import).
- Hooks are keyed on what happens, not on names an implementation may override: the code objects
  of the library's own machinery (the code ``BaseProcess._bootstrap``'s ``self.run()`` runs,
  whatever ``run`` is; ``Popen.wait``; ``util._exit_function``; ``threading._shutdown``), C calls
  (``os._exit``, ``os.waitpid``, ``signal.signal``) and audit events (``os.kill``, ``os.fork``).
  ``FAMILIES`` is the registry of those names per implementation family.
- On 3.12+ the hooks are ``sys.monitoring`` events local to the hooked code objects (a free tool
  id, never the profiler's that cProfile takes): other code runs at full speed, and no profile
  function is set. On 3.11 the same events come from the C filters' frame evaluation hook
  (``_FrameHook``, PEP 523) where PROCLIFE_OBSERVER_FILTER names them and their check of 3.11's
  layouts passed. Otherwise (or with PROCLIFE_OBSERVER_PROFILE=1) a ``sys.setprofile`` function
  filters each call and return: in C where PROCLIFE_OBSERVER_FILTER names the built filter
  (``observer_filter.c``: the hooked code objects and C functions by address), else in Python,
  on a call's line, then its module, a return's frame (set lookups); the richer
  watchers run only inside the few frames that need them (``threading._shutdown``, and a
  ``_bootstrap`` whose ``run`` is no Python function). Both write the same events
  (tests/test_observer_monitoring.py).
- Nothing heavy is imported: no ``json`` (the C encoder json uses), no ``dis`` (a bytecode
  reader of the few instructions read, per version), no ``collections.abc``.
- Each event is one ``os.write`` of a line shorter than PIPE_BUF on an ``O_APPEND`` descriptor
  (the line made in C where the C filters loaded: the same bytes, fewer pages touched after a fork):
  lines of different processes never interleave, nothing is buffered, and a process killed by
  SIGKILL has written every event up to its death.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from types import CodeType, FrameType, FunctionType, ModuleType

TYPE_CHECKING = False  # typing and dataclasses would cost every observed interpreter milliseconds at start
if TYPE_CHECKING:  # and collections.abc (collections, operator...) about 4 ms on 3.13
    from collections.abc import Callable, Iterator
    from typing import Any

ENV_SINK = "PROCLIFE_OBSERVER"
ENV_FAMILIES = "PROCLIFE_OBSERVER_FAMILIES"
ENV_STACKS = "PROCLIFE_OBSERVER_STACKS"  # a folder: set only by ``proclife trace`` (install(..., stacks=))
ENV_PROFILE = "PROCLIFE_OBSERVER_PROFILE"  # "1": the sys.setprofile hooks even on 3.12+ (for comparison)
ENV_FILTER = "PROCLIFE_OBSERVER_FILTER"  # the built C filters (observer_filter.c), where there are some
STACKS_SIGNAL = signal.SIGRTMIN + 3  # dumps every thread's stack (faulthandler) when stacks are asked for
STACKS_FILE = "stacks-{pid}.txt"
SCHEMA = "proclife.observer/1"
LINE_LIMIT = 4000  # < PIPE_BUF (4096): one write of a line is atomic, even on a pipe
_FD_FLOOR = 100  # the sink's descriptor is moved above the fds a program usually dup2()s over
_DISPOSITIONS_TRACKED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD")

# What is hooked, per implementation family: "module:qualified name" -> the handler's role.
# A family's process module keeps Process's lifecycle, its popen modules the parent's side.
FAMILIES: dict[str, dict[str, str]] = {
    name: {
        f"{name}.process:BaseProcess.__init__": "process_init",
        f"{name}.process:BaseProcess._bootstrap": "bootstrap",
        f"{name}.popen_fork:Popen.__init__": "popen_init",
        f"{name}.process:BaseProcess.join": "process_join",
        f"{name}.popen_fork:Popen.poll": "popen_poll",
        f"{name}.popen_forkserver:Popen.poll": "popen_poll",
        f"{name}.popen_fork:Popen.terminate": "popen_terminate",
        f"{name}.popen_fork:Popen.kill": "popen_kill",
        f"{name}.util:_exit_function": "exit_function",
        f"{name}.queues:Queue.cancel_join_thread": "queue_cancel",
        f"{name}.util:get_temp_dir": "temp_dir",
    }
    for name in ("multiprocessing", "multiprocess", "billiard")
}
# billiard's Popen has no kill() (nor its Process: deviation billiard.no_kill): nothing to hook there,
# and a target that does not exist must not mark billiard's observer as partly blind.
del FAMILIES["billiard"]["billiard.popen_fork:Popen.kill"]
THREADING: dict[str, str] = {
    "threading:_shutdown": "shutdown",
    "threading:Thread.join": "thread_join",
    "threading:Thread._bootstrap_inner": "thread_bootstrap",
}
if sys.version_info < (3, 12):  # no audit event for a thread start before 3.12: the return of Thread.start
    THREADING["threading:Thread.start"] = "thread_start"


class ObserverError(Exception):
    """The observer cannot be installed as asked (the message says what to change)."""


# ----------------------------------------------------------------------------------------------
# Events: the typed form of a line, and the reader.


class Event:
    """One lifecycle fact: who (pid, thread), what (kind, details), when (monotonic ns).

    ``tid`` is the thread's native id; ``end`` None: begun, not (yet) returned; ``seq`` the
    position in the sink (ties keep the order of writing). Compared by value, never changed."""

    __slots__ = ("begin", "details", "end", "kind", "pid", "seq", "thread", "thread_daemon", "tid")

    def __init__(self, pid: int, tid: int, thread: str, thread_daemon: bool | None, kind: str, begin: int,
                 end: int | None, details: dict[str, Any] | None = None, seq: int = 0) -> None:
        self.pid, self.tid, self.thread, self.thread_daemon = pid, tid, thread, thread_daemon
        self.kind, self.begin, self.end = kind, begin, end
        self.details: dict[str, Any] = {} if details is None else details
        self.seq = seq

    def _key(self) -> tuple[Any, ...]:
        return (self.pid, self.tid, self.thread, self.thread_daemon, self.kind, self.begin, self.end,
                self.details, self.seq)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # details is a dict

    def __repr__(self) -> str:
        return (f"Event(pid={self.pid}, thread={self.thread!r}, kind={self.kind!r}, begin={self.begin}, "
                f"end={self.end}, details={self.details!r})")

    @property
    def time(self) -> int:
        """When the fact was known: its end, or its begin for a fact with no end."""
        return self.begin if self.end is None else self.end

    def get(self, key: str, default: Any = None) -> Any:
        return self.details.get(key, default)


_BASE_FIELDS = ("pid", "tid", "thread", "thread_daemon", "kind", "begin", "end")


def parse_line(line: str, seq: int = 0) -> Event:
    """One sink line as an Event (ValueError if it is not one)."""
    import json

    raw = json.loads(line)
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ValueError(f"not an observer event: {line[:80]!r}")
    details = {k: v for k, v in raw.items() if k not in _BASE_FIELDS}
    return Event(raw["pid"], raw["tid"], raw["thread"], raw["thread_daemon"], raw["kind"], raw["begin"],
                 raw["end"], details, seq)


def read_events(path: str | os.PathLike[str]) -> list[Event]:
    """Every event in the sink at ``path``, ordered by the time each was known (then by writing).

    A last line cut short (a writer killed mid-write cannot do that: writes are whole) or a
    foreign line raises ValueError naming the line.
    """
    events = []
    with open(path, encoding="utf-8") as sink:
        for number, line in enumerate(sink, 1):
            if not line.strip():
                continue
            try:
                events.append(parse_line(line, number))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{number}: not an observer event ({exc})") from None
    return sorted(events, key=lambda e: (e.time, e.seq))


# ----------------------------------------------------------------------------------------------
# The sink and the writer.


class _CodeMap:
    """A mapping keyed by code objects that never hashes one. A code object's hash is computed
    again at each use, over its whole bytecode on 3.13: a dict keyed by code objects made every
    hook cost more than its work. Here a code object is found by its qualified name (a str,
    whose hash is cached), then by identity."""

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, list[tuple[CodeType, Any]]] = {}

    def get(self, code: CodeType, default: Any = None) -> Any:
        for known, value in self._by_name.get(code.co_qualname, ()):
            if known is code:
                return value
        return default

    def __contains__(self, code: CodeType) -> bool:
        return self.get(code, self) is not self  # (no generator: this runs at every hooked call)

    def __setitem__(self, code: CodeType, value: Any) -> None:
        entries = self._by_name.setdefault(code.co_qualname, [])
        entries[:] = [(known, old) for known, old in entries if known is not code]
        entries.append((code, value))

    def __delitem__(self, code: CodeType) -> None:
        entries = self._by_name.get(code.co_qualname, [])
        entries[:] = [(known, old) for known, old in entries if known is not code]


class _State:
    """Per-process state: the sink, the cached pid, the hooks resolved at install."""

    fd: int = -1
    pid: int = 0
    dropped: int = 0
    installed: bool = False
    families: tuple[str, ...] = ()
    unhooked: list[str]
    run_offsets: _CodeMap  # CodeType -> frozenset[int]
    dispositions: dict[str, str]
    stacks: str | None = None  # the folder of the per-process stack dumps, or None (not asked for)
    stacks_path: str | None = None  # the file this process's stack dumps go to (a forked child: its parent's)
    start_forked: bool = False  # a process start has forked: its forking code's bytecode was read

    def __init__(self) -> None:
        self.unhooked = []
        self.run_offsets = _CodeMap()
        self.dispositions = {}


_S = _State()
_now = time.monotonic_ns
_get_ident = threading.get_ident
_active = threading._active  # type: ignore[attr-defined]  # never current_thread(): it may lock


_native_id = threading.get_native_id


def _thread_identity(thread: Any = None) -> tuple[int, str, bool | None]:
    thread = thread or _active.get(_get_ident())
    native = _native_id()
    if thread is None:
        return native, "?", None
    return native, thread.name, thread.daemon


def _dumps(value: Any) -> str:
    """``json.dumps(value, default=repr, separators=(",", ":"))``, by the C encoder json.dumps uses
    (made once): no import of the json package (and of ``re``) in every observed interpreter."""
    if _ENCODER is None:
        import json

        return json.dumps(value, default=repr, separators=(",", ":"))
    return "".join(_ENCODER(value, 0))


_ENCODER: Any
try:
    from _json import encode_basestring_ascii as _encode_ascii
    from _json import make_encoder as _make_encoder

    # no markers (no check for cycles: the details are built here), default=repr, compact, ASCII
    _ENCODER = _make_encoder(None, repr, _encode_ascii, None, ":", ",", False, False, True)
except ImportError:  # an interpreter without the accelerator: json's own Python encoder
    _ENCODER = None
    _encode_ascii = None  # type: ignore[assignment]


def _emit(kind: str, begin: int, end: int | None, /, *, as_thread: Any = None, **details: Any) -> None:
    """Write one event now: one os.write of one line (shortened to fit under PIPE_BUF).

    ``as_thread``: the Thread this thread is, when ``threading`` has already forgotten it
    (a thread's last moments, after ``Thread._delete``). The identity fields are formatted
    directly and only the details go through the encoder: an event costs a forked child the
    fewest allocations (each page it touches first is a page copied from its parent).
    """
    if _S.fd < 0:
        return
    if _C_EMIT is not None:  # the C filters' writer: the same line, without a page per object touched
        written = _C_EMIT(_S.fd, kind, begin, end, as_thread, details)
        if written <= 0:
            _S.dropped -= written
            return
    thread = as_thread or _active.get(_get_ident())
    # the Thread's own fields, not its name and daemon properties: Python calls (under 3.11's
    # profile function, each one profiled), and code a subclass may override
    own = getattr(thread, "__dict__", None)
    name = own.get("_name") if type(own) is dict else None
    if type(name) is not str or _ENCODER is None:
        _emit_record(kind, begin, end, thread, details)
        return
    daemon = own.get("_daemonic")  # type: ignore[union-attr]
    line = (f'{{"pid":{_S.pid},"tid":{_native_id()},"thread":{_encode_ascii(name)},"thread_daemon":'
            f'{"true" if daemon is True else "false" if daemon is False else "null"},"kind":"{kind}",'
            f'"begin":{begin},"end":{"null" if end is None else end}')
    data = (line + ("," + "".join(_ENCODER(details, 0))[1:] if details else "}") + "\n").encode()
    if len(data) > LINE_LIMIT:
        _emit_record(kind, begin, end, thread, details)
        return
    try:
        os.write(_S.fd, data)
    except OSError:
        _S.dropped += 1


def _emit_record(kind: str, begin: int, end: int | None, thread: Any, details: dict[str, Any]) -> None:
    """``_emit`` by way of a record: a thread threading does not know, a line too long, no encoder."""
    tid, name, daemon = _thread_identity(thread)
    record = {"pid": _S.pid, "tid": tid, "thread": name, "thread_daemon": daemon, "kind": kind,
              "begin": begin, "end": end, **details}
    data = _dumps(record).encode() + b"\n"
    if len(data) > LINE_LIMIT:
        short = {k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in details.items()}
        record = {**record, **short, "truncated": True}
        data = _dumps(record).encode()[: LINE_LIMIT - 1] + b"\n"
        if not data.endswith(b"}\n"):  # still too long: keep the identity, drop the details
            data = _dumps({**{k: record[k] for k in _BASE_FIELDS}, "truncated": True}).encode() + b"\n"
    try:
        os.write(_S.fd, data)
    except OSError:
        _S.dropped += 1


def _open_sink(sink: str | int) -> int:
    if isinstance(sink, int):
        fd = sink
    elif sink.startswith("fd:"):
        fd = int(sink[3:])
    else:
        # O_NONBLOCK: opening a FIFO whose reader is gone fails (ENXIO) instead of waiting for
        # ever; writes block again afterwards, so a full FIFO delays a fact rather than losing it.
        fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        os.set_blocking(fd, True)
        high = _fcntl_dup_high(fd)
        if high != fd:
            os.close(fd)
        fd = high
    try:
        os.fstat(fd)
    except OSError as exc:
        raise ObserverError(f"observer sink {sink!r} is not an open descriptor ({exc}); "
                            f"pass a path, or 'fd:N' of a descriptor open for writing") from None
    return fd


def _fcntl_dup_high(fd: int) -> int:
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _FD_FLOOR)
    except OSError:
        return fd


# ----------------------------------------------------------------------------------------------
# Reading a C call's arguments: setprofile's c_call shows the function, not its arguments, so
# the caller's bytecode is read back from the CALL (simple loads only: a constant, a local, a
# global, a closure cell, and instance or module attributes of those; anything else is unknown).

_UNKNOWN = object()
_INSTRUCTIONS = _CodeMap()  # CodeType -> (its instructions, their index by offset)
_SKIP = {"PRECALL", "PUSH_NULL", "KW_NAMES", "CACHE", "EXTENDED_ARG"}

# The bytecode read without ``dis``, whose import (with ``opcode``) costs every observed
# interpreter 2-4 ms: per version, the opcodes of the instructions read here, by number (any
# other is "OTHER"), and the inline cache entries that follow each opcode that has them.
# tests/test_observer.py checks them against the running interpreter's ``opcode`` and ``dis``;
# another version reads with ``dis``.
_OPCODES: dict[tuple[int, int], tuple[dict[int, str], dict[int, int]]] = {
    (3, 11): ({2: "PUSH_NULL", 100: "LOAD_CONST", 101: "LOAD_NAME", 106: "LOAD_ATTR", 116: "LOAD_GLOBAL",
               124: "LOAD_FAST", 137: "LOAD_DEREF", 144: "EXTENDED_ARG", 160: "LOAD_METHOD", 166: "PRECALL",
               171: "CALL", 172: "KW_NAMES"},
              {25: 4, 60: 1, 92: 1, 95: 4, 106: 4, 107: 2, 116: 5, 122: 1, 160: 10, 166: 1, 171: 4}),
    (3, 12): ({2: "PUSH_NULL", 100: "LOAD_CONST", 101: "LOAD_NAME", 106: "LOAD_ATTR", 116: "LOAD_GLOBAL",
               124: "LOAD_FAST", 127: "LOAD_FAST_CHECK", 137: "LOAD_DEREF", 143: "LOAD_FAST_AND_CLEAR",
               144: "EXTENDED_ARG", 171: "CALL", 172: "KW_NAMES"},
              {25: 1, 60: 1, 92: 1, 93: 1, 95: 4, 106: 9, 107: 1, 116: 4, 122: 1, 123: 1, 141: 1, 171: 3}),
    (3, 13): ({34: "PUSH_NULL", 53: "CALL", 71: "EXTENDED_ARG", 82: "LOAD_ATTR", 83: "LOAD_CONST", 84: "LOAD_DEREF",
               85: "LOAD_FAST", 86: "LOAD_FAST_AND_CLEAR", 87: "LOAD_FAST_CHECK", 88: "LOAD_FAST_LOAD_FAST",
               91: "LOAD_GLOBAL", 92: "LOAD_NAME"},
              {5: 1, 39: 1, 40: 3, 45: 1, 53: 3, 58: 1, 59: 1, 72: 1, 77: 1, 82: 9, 91: 4, 93: 1, 97: 1, 98: 1,
               99: 1, 100: 1, 104: 1, 108: 4, 117: 1}),
}


class Instruction:
    """What is read of one instruction (as ``dis.Instruction`` has it; ``argval`` only for a load,
    ``arg`` whatever the opcode: only a CALL's is read)."""

    __slots__ = ("arg", "argval", "offset", "opname")

    def __init__(self, opname: str, arg: int | None, argval: Any, offset: int) -> None:
        self.opname, self.arg, self.argval, self.offset = opname, arg, argval, offset


def _decode(code: CodeType) -> list[Instruction]:
    """The instructions of ``code`` (``dis.get_instructions``, without its caches)."""
    table = _OPCODES.get(sys.version_info[:2])
    if table is None:
        import dis

        return [Instruction(i.opname, i.arg, i.argval, i.offset) for i in dis.get_instructions(code)]
    names, caches = table
    raw, consts, co_names = code.co_code, code.co_consts, code.co_names
    attr_shift = 0 if sys.version_info < (3, 12) else 1
    varname = code._varname_from_oparg  # type: ignore[attr-defined]  # 3.11+: locals, cells, free variables
    listing = []
    extended = 0
    offset = 0
    while offset < len(raw):
        op = raw[offset]
        arg = raw[offset + 1] | extended
        opname = names.get(op, "OTHER")
        extended = arg << 8 if opname == "EXTENDED_ARG" else 0
        argval: Any = None
        if opname == "LOAD_CONST":
            argval = consts[arg]
        elif opname == "LOAD_FAST_LOAD_FAST":
            argval = (varname(arg >> 4), varname(arg & 15))
        elif opname.startswith("LOAD_FAST") or opname == "LOAD_DEREF":
            argval = varname(arg)
        elif opname in ("LOAD_NAME", "LOAD_METHOD"):
            argval = co_names[arg]
        elif opname == "LOAD_GLOBAL":
            argval = co_names[arg >> 1]
        elif opname == "LOAD_ATTR":
            argval = co_names[arg >> attr_shift]
        listing.append(Instruction(opname, arg, argval, offset))
        offset += 2 + 2 * caches.get(op, 0)
    return listing


def _instructions(code: CodeType) -> tuple[list[Instruction], dict[int, int]]:
    found = _INSTRUCTIONS.get(code)
    if found is None:
        listing = _decode(code)
        found = (listing, {ins.offset: i for i, ins in enumerate(listing)})
        _INSTRUCTIONS[code] = found
    return found


def _lookup(frame: FrameType, op: str, name: Any, local_vars: Any) -> Any:
    if op == "LOAD_CONST" or op == "LOAD_SMALL_INT":
        return name
    if op.startswith("LOAD_FAST") or op == "LOAD_DEREF" or op == "LOAD_NAME":
        value = local_vars.get(name, _UNKNOWN)
        if value is _UNKNOWN and op == "LOAD_NAME":
            value = frame.f_globals.get(name, frame.f_builtins.get(name, _UNKNOWN))
        return value
    if op == "LOAD_GLOBAL":
        return frame.f_globals.get(name, frame.f_builtins.get(name, _UNKNOWN))
    return _UNKNOWN


def _attribute(obj: Any, name: str) -> Any:
    """An attribute read without running code: an instance's or a module's own dict only."""
    try:
        own = obj.__dict__ if isinstance(obj, ModuleType) else vars(obj)
    except TypeError:
        return _UNKNOWN
    return own.get(name, _UNKNOWN) if isinstance(own, dict) else _UNKNOWN


# How to read the arguments of one CALL, from the bytecode before it: (argc, the loads back from
# the CALL, last argument first: ("pair", (first, second), ()) or (opname, argval, attributes),
# whether a load reads the frame's locals), or None (not a CALL). Read once per call site, then
# only the loads run.
_PLANS = _CodeMap()  # CodeType -> {offset: plan}
_READABLE = ("LOAD_CONST", "LOAD_SMALL_INT", "LOAD_DEREF", "LOAD_NAME", "LOAD_GLOBAL")


def _plan(code: CodeType, lasti: int) -> tuple[int, list[tuple[Any, ...]], bool] | None:
    listing, index = _instructions(code)
    at = index.get(lasti)
    if at is None or listing[at].opname != "CALL":
        return None
    i = at - 1
    while i >= 0 and listing[i].opname in _SKIP:
        i -= 1
    argc = listing[at].arg or 0
    steps: list[tuple[Any, ...]] = []
    collected = 0
    while i >= 0 and collected < argc:
        attrs = []
        while i >= 0 and listing[i].opname == "LOAD_ATTR":
            attrs.append(listing[i].argval)
            i -= 1
        if i < 0:
            break
        ins = listing[i]
        if ins.opname == "LOAD_FAST_LOAD_FAST" and not attrs:  # 3.13: two locals in one
            steps.append(("pair", ins.argval, ()))
            collected += 2
            i -= 1
            continue
        steps.append((ins.opname, ins.argval, tuple(reversed(attrs))))
        collected += 1
        if not (ins.opname in _READABLE or ins.opname.startswith("LOAD_FAST")):
            break  # never known: the reading stops there
        i -= 1
    return argc, steps, any(step[0] not in ("LOAD_CONST", "LOAD_SMALL_INT", "LOAD_GLOBAL") for step in steps)


def _code_plans(code: CodeType) -> dict[int, tuple[int, list[tuple[Any, ...]], bool] | None]:
    plans = _PLANS.get(code)
    if plans is None:
        plans = {}
        _PLANS[code] = plans
    return plans  # type: ignore[no-any-return]


def call_arguments(frame: FrameType, count: int) -> list[Any]:
    """The first ``count`` positional arguments of the call ``frame`` is making (``None`` if unknown)."""
    code = frame.f_code
    plans = _code_plans(code)
    plan: Any = plans.get(frame.f_lasti, _UNKNOWN)
    if plan is _UNKNOWN:
        plan = plans[frame.f_lasti] = _plan(code, frame.f_lasti)
    if plan is None:
        return [None] * count
    argc, steps, reads_locals = plan
    local_vars: Any = frame.f_locals if reads_locals else None  # once: on 3.11 each read builds a dict
    values: list[Any] = []
    for op, name, attrs in steps:
        if op == "pair":
            values.append(local_vars.get(name[1], _UNKNOWN))
            values.append(local_vars.get(name[0], _UNKNOWN))
            continue
        value = _lookup(frame, op, name, local_vars)
        for attr in attrs:
            value = _UNKNOWN if value is _UNKNOWN else _attribute(value, attr)
        values.append(value)
        if value is _UNKNOWN:
            break
    args = [None] * count
    if len(values) >= argc:
        for position in range(min(argc, count)):  # values run from the last argument back
            value = values[argc - 1 - position]
            if value is not _UNKNOWN:
                args[position] = value
    return args


def _call_offsets(code: CodeType, attr: str) -> frozenset[int]:
    """Offsets of the CALLs in ``code`` whose callee is ``<expr>.attr`` (``self.run()``)."""
    offsets: set[int] = set()
    armed = False
    listing = _decode(code)
    for ins, after in zip(listing, [*listing[1:], None], strict=True):
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            armed = ins.argval == attr
        elif ins.opname == "CALL" and armed:
            # A Python callee sees its caller's f_lasti past the CALL's inline cache.
            offsets.update((ins.offset, (after.offset if after else len(code.co_code)) - 2))
            armed = False
    return frozenset(offsets)


# ----------------------------------------------------------------------------------------------
# The kernel's view of a child, read without changing it (WNOWAIT).


def _child_state(pid: Any) -> tuple[str, int | None]:
    """("running" | "zombie" | "gone", the exit status of a zombie) of a child of this process."""
    if not isinstance(pid, int) or pid <= 0:
        return "unknown", None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "gone", None  # reaped, or never this process's child (a forkserver's)
    except OSError:
        return "unknown", None
    if info is None:
        return "running", None
    killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
    return "zombie", (-info.si_status if killed else info.si_status)


# ----------------------------------------------------------------------------------------------
# Profile functions: the fast one, and the watchers swapped in for the frames that need them.


if TYPE_CHECKING:
    Hook = Callable[[FrameType, str, Any], None]
# A frame's f_code is read only for frames of a hooked module: reading f_code (like calling
# id()) raises an audit event, which calls every audit hook (ours included), and a code
# object's hash is recomputed at each use; a frame's globals and a module's name are free.
_MODULES: set[str] = set()  # the names of the modules with a hooked function
_PY_HOOKS = _CodeMap()  # CodeType -> Hook
_C_HOOKS: dict[Any, Hook] = {}  # C functions (their hash is two pointers)


# The profile function's cheap filters (setprofile: 3.11): a "call" is looked at only if a hooked
# function starts on the frame's line (at a call, a frame's line is its code's first line), then
# only if its module has one starting there; a "return" only if the frame was seen calling a hook.
# The line comes first: it is computed from the frame alone, where reading the frame's globals
# writes to each module's globals dict and name (their reference counts), a page a forked child
# and its parent each copy once per fork (measured: bench/bench_fork_cost.py).
_FIRST_LINES: set[tuple[str, int]] = set()  # (module name, first line) of each hooked code object
_LINES: set[int] = set()  # the first lines alone
_FRAMES: dict[FrameType, Hook] = {}  # the frames of hooked code that have not returned (by identity)


def _hook_code(code: CodeType, hook: Hook, globals_: dict[str, Any]) -> None:
    _hook_code_of(code, hook, globals_.get("__name__", ""))


def _hook_code_of(code: CodeType, hook: Hook, name: str) -> None:
    # a function's frame is on its first line when called; a module's on line 0 (its RESUME)
    line = 0 if code.co_name == "<module>" else code.co_firstlineno
    _MODULES.add(name)
    _FIRST_LINES.add((name, line))
    _LINES.add(line)
    _PY_HOOKS[code] = hook
    if _FILTER is not None:
        _FILTER.hook_code(code)
    if _MONITORING:
        events = _sysmon.events
        _mon_local(code, events.PY_START | events.PY_RETURN | _mon_calls(code))


def _profile(frame: FrameType, event: str, arg: Any, _first: set[int] = _LINES, _modules: set[str] = _MODULES,
             _lines: set[tuple[str, int]] = _FIRST_LINES, _frames: dict[FrameType, Hook] = _FRAMES,
             _py: _CodeMap = _PY_HOOKS, _c: dict[Any, Hook] = _C_HOOKS) -> None:
    """Called for every call and return: cheap filters in C (set and dict lookups) before
    anything else; a frame's code is read (an audit event) only for a likely hooked call."""
    if event == "call":
        line = frame.f_lineno
        if line not in _first:
            return
        name = frame.f_globals.get("__name__")
        if name not in _modules or (name, line) not in _lines:
            return
        hook = _py.get(frame.f_code)
        if hook is None:
            return
        _frames[frame] = hook
    elif event == "return":
        hook = _frames.pop(frame, None)
        if hook is None:
            return
    else:
        hook = _c.get(arg)
    if hook is not None:
        _dispatch(hook, frame, event, arg)


def _dispatch(hook: Hook, frame: FrameType, event: str, arg: Any) -> None:
    try:
        hook(frame, event, arg)
    except Exception as exc:  # an observer's bug must never reach the program
        _emit("observer_error", _now(), None, hook=getattr(hook, "__name__", "?"), error=repr(exc))


def _filtered(frame: FrameType, event: str, arg: Any) -> None:
    """What the C filter lets through: a hooked code's call (``arg``: its code) or return, a
    hooked C function's call or return."""
    if event == "call":
        hook = _PY_HOOKS.get(arg)
        if hook is None:
            return
        _FRAMES[frame] = hook
        arg = None
    elif event == "return":
        hook = _FRAMES.pop(frame, None)
    else:
        hook = _C_HOOKS.get(arg)
    if hook is not None:
        _dispatch(hook, frame, event, arg)


def _unhook_code(code: CodeType) -> None:
    del _PY_HOOKS[code]
    if _FILTER is not None:
        _FILTER.unhook_code(code)


def _fast_profile() -> None:
    """Set this thread's fast profile function: the C filter where it loaded, else ``_profile``."""
    if _FILTER is not None:
        _FILTER.set_profile(_profile)  # (sys.getprofile() shows _profile)
    else:
        sys.setprofile(_profile)


def _no_profile() -> None:
    sys.setprofile(None)


def _load_filter(path: str | None) -> Any:
    """The C filters built at ``path``, the profile one armed; None where there are none or they
    fail to load."""
    if not path:
        return None
    from importlib import machinery  # (importlib.util would import contextlib: milliseconds at start)
    try:
        loader = machinery.ExtensionFileLoader(_FILTER_MODULE, path)
        module = loader.create_module(machinery.ModuleSpec(_FILTER_MODULE, loader, origin=path))
        module.arm(_filtered, "call", "return", "c_call", "c_exception", "c_return")
    except (ImportError, OSError, AttributeError, TypeError):  # not built for this machine, moved...
        return None
    return module


_C_FILTERS: Any = None  # the loaded C filters (observer_filter.c: a module kept out of sys.modules), or None
_C_EMIT: Any = None  # their writer of an event's line (``emit``), once armed at install, or None
_FILTER: Any = None  # the same, when its profile function is the hooks' (not under sys.monitoring)
_FILTER_MODULE = "_proclife_filter"  # its init function's name: PyInit__proclife_filter


def _nothing(frame: FrameType, event: str, arg: Any) -> None:
    """Under sys.monitoring, a watcher's other events: the monitoring callbacks have them."""


# The watchers below are profile functions set for a few frames (``sys.setprofile``); what they
# pass the other events to, and what they give the thread back: the fast profile function, or
# under sys.monitoring nothing (its callbacks see those events) and no profile function.
_PASS: list[Hook] = [_profile]
_RESUME: list[Callable[[], None]] = [_fast_profile]


def _thread_first(frame: FrameType, event: str, arg: Any) -> None:
    """A new thread's first event (threading.setprofile): it has begun; then the fast profile."""
    _fast_profile()
    _emit("thread_begin", _now(), None, ident=_get_ident())
    running: FrameType | None = frame if event != "call" else frame.f_back
    while running is not None:  # called before the profile function was set (Thread._bootstrap_inner):
        hook = _PY_HOOKS.get(running.f_code)  # their returns must find them
        if hook is not None:
            _FRAMES[running] = hook
        running = running.f_back
    _profile(frame, event, arg)


# ----------------------------------------------------------------------------------------------
# sys.monitoring (3.12+): the same hooks as events local to the hooked code objects (PY_START,
# PY_RETURN), so that any other code runs at full speed. A global event costs: PY_START would
# instrument every code object as it first runs (in each forked child again, its pages copied).
# The only global event is PY_UNWIND, the "return" of a hooked frame left by an exception. The
# code objects that may call a hooked C function (``os._exit``, ``sys.exit``, ``os.waitpid``,
# ``os.waitid``, ``signal``: those that name one) get CALL events, found in every module loaded
# at install and in each code object executed later (the ``exec`` audit event: imports, the main
# script, exec()), as do the ``run`` methods that call a target (``Process(target=os._exit)``):
# a C hook is seen at those call sites, where setprofile saw every call of it. A module awaited
# is hooked at its ``<module>``'s return, as with setprofile. ``_bootstrap``'s call of its run and
# ``threading._shutdown``'s calls are CALL events of their code objects. Only the threads
# setprofile would observe are (the main thread, threads started by threading after install).


class _Mon:
    tool: int = -1
    threads: set[int]
    unwinding: BaseException | None = None  # the exception leaving the frame of a PY_UNWIND
    watched: _CodeMap  # the code objects whose own calls are watched: CodeType -> role
    callers: _CodeMap  # the run() methods that call a target (any callable): CodeType -> True
    names: set[str]  # the qualified names of both (a CALL elsewhere needs neither looked up)

    def __init__(self) -> None:
        self.threads = set()
        self.watched = _CodeMap()
        self.callers = _CodeMap()
        self.names = set()


_MON = _Mon()
_sysmon: Any = getattr(sys, "monitoring", None)  # 3.12+
_MONITORING = False  # set by install: the hooks are sys.monitoring events (3.12+), not a profile function
_C_NAMES = frozenset({"_exit", "exit", "waitpid", "waitid", "signal"})
_BUILTIN = type(len)
_METHOD_DESCRIPTOR = type(str.join)


def _mon_calls(code: CodeType) -> int:
    """CALL for a code object that may call a hooked C function (one that names it), else 0."""
    return 0 if _C_NAMES.isdisjoint(code.co_names) else _sysmon.events.CALL


def _mon_local(code: CodeType, events: int) -> None:
    """Add ``events`` to the local events of ``code``."""
    now = _sysmon.get_local_events(_MON.tool, code)
    if now | events != now:
        _sysmon.set_local_events(_MON.tool, code, now | events)


def _mon_scan(code: CodeType) -> None:
    """``code`` and the code objects in it: CALL events where a hooked C function may be called;
    a module's code, while a module is awaited, its return."""
    calls = _mon_calls(code)
    if code.co_name == "<module>" and _AWAITED:
        calls |= _sysmon.events.PY_RETURN
    if calls:
        _mon_local(code, calls)
    for const in code.co_consts:
        if type(const) is CodeType:
            _mon_scan(const)


def _mon_exec(args: tuple[Any, ...]) -> None:
    """The ``exec`` audit event: a code object about to run as a module, a script or exec()."""
    if args and type(args[0]) is CodeType:
        _mon_scan(args[0])


def _mon_scan_loaded() -> None:
    """The code objects of the functions (and classes' functions) of every module loaded now but
    this one, read without running code (no __getattr__, no id(): an audit event); the loops are
    comprehensions and C iterations, as this runs in every interpreter's start-up."""
    codes: list[CodeType] = []
    wrappers = (staticmethod, classmethod)
    for module in list(sys.modules.values()):
        if type(module) is not ModuleType or module.__name__ == __name__:
            continue
        values = list(module.__dict__.values())
        codes += [value.__code__ for value in values if type(value) is FunctionType]
        for cls in [value for value in values if issubclass(type(value), type)]:
            members = list(cls.__dict__.values())
            codes += [member.__code__ for member in members if type(member) is FunctionType]
            codes += [member.__func__.__code__ for member in members
                      if type(member) in wrappers and type(member.__func__) is FunctionType]
    isdisjoint = _C_NAMES.isdisjoint
    call = _sysmon.events.CALL
    while codes:
        code = codes.pop()
        if not isdisjoint(code.co_names):
            _mon_local(code, call)
        if CodeType in map(type, code.co_consts):  # nested code objects (functions, classes, lambdas)
            codes += [const for const in code.co_consts if type(const) is CodeType]


def _mon_dispatch(hook: Hook, frame: FrameType, event: str, arg: Any) -> None:
    if _get_ident() not in _MON.threads:
        return
    try:
        hook(frame, event, arg)
    except Exception as exc:  # an observer's bug must never reach the program
        _emit("observer_error", _now(), None, hook=getattr(hook, "__name__", "?"), error=repr(exc))


def _mon_start(code: CodeType, offset: int) -> None:
    _mon_started(code, sys._getframe(1))


def _mon_started(code: CodeType, frame: FrameType) -> None:
    hook = _PY_HOOKS.get(code)
    if hook is _on_thread_bootstrap:  # a thread started by threading: observed from here on
        ident = _get_ident()
        _MON.threads.add(ident)
        _emit("thread_begin", _now(), None, as_thread=frame.f_locals.get("self"), ident=ident)
    elif hook is not None:
        _mon_dispatch(hook, frame, "call", None)


def _mon_return(code: CodeType, offset: int, value: Any) -> None:
    _mon_returned(code, sys._getframe(1), value)


def _mon_returned(code: CodeType, frame: FrameType, value: Any) -> None:
    hook = _PY_HOOKS.get(code)
    if hook is not None:
        _mon_dispatch(hook, frame, "return", value)
    elif code.co_name == "<module>" and frame.f_globals.get("__name__") in _AWAITED:
        _module_executed(frame)


def _mon_unwind(code: CodeType, offset: int, exc: BaseException) -> None:
    _mon_unwound(code, sys._getframe(1), exc)


def _mon_unwound(code: CodeType, frame: FrameType, exc: BaseException) -> None:
    if code in _PY_HOOKS or code.co_name == "<module>":
        _MON.unwinding = exc
        try:
            _mon_returned(code, frame, None)
        finally:
            _MON.unwinding = None


def _callee_name(function: Any) -> str | None:
    """The name of a called function, read only where reading it runs no code."""
    kind = type(function)
    return function.__name__ if kind is _BUILTIN or kind is _METHOD_DESCRIPTOR or kind is FunctionType else None


def _mon_call(code: CodeType, offset: int, function: Any, arg0: Any) -> Any:
    """A CALL in a code object that names a hooked C function, or whose calls are watched. A call
    site that calls nothing hooked is switched off (DISABLE, at that site only): a parent that
    starts many children passes the other sites of ``Popen._launch`` and ``Popen.poll`` once, not
    at every start and poll; its children inherit the sites switched off."""
    hook = None
    if type(function) is _BUILTIN:
        hook = _C_HOOKS.get(function)
        if hook is not None:
            _mon_dispatch(hook, sys._getframe(1), "c_call", function)
    role = _MON.watched.get(code) if code.co_qualname in _MON.names else None
    if role is None:
        if hook is None and _callee_name(function) not in _C_NAMES and (
                code.co_qualname not in _MON.names or code not in _MON.callers):
            return _sysmon.DISABLE  # (a run() calling a target may call os._exit itself another time)
        return None
    if hook is None and (offset not in _S.run_offsets.get(code, ()) if role == "bootstrap" else
                           _callee_name(function) not in ("acquire", "_shutdown")):
        return _sysmon.DISABLE  # (in _bootstrap only its run's call is watched, in _shutdown its joins)
    elif _get_ident() in _MON.threads:
        try:
            if role == "bootstrap":
                _mon_bootstrap_call(sys._getframe(1), offset, function)
            else:
                _mon_shutdown_call(sys._getframe(1), offset, function, arg0, "c_call")
        except Exception as exc:  # an observer's bug must never reach the program
            _emit("observer_error", _now(), None, hook=role, error=repr(exc))


def _mon_c_return(code: CodeType, offset: int, function: Any, arg0: Any) -> None:
    if type(function) is _BUILTIN:
        hook = _C_HOOKS.get(function)
        if hook is not None:
            _mon_dispatch(hook, sys._getframe(1), "c_return", function)
    if (offset in _SHUT.joins and code.co_qualname in _MON.names and _MON.watched.get(code) == "shutdown"
            and _get_ident() in _MON.threads):  # (the end of a join it began: its other C calls read no frame)
        _mon_shutdown_call(sys._getframe(1), offset, function, arg0, "c_return")


def _mon_c_raise(code: CodeType, offset: int, function: Any, arg0: Any) -> None:
    if type(function) is _BUILTIN:
        hook = _C_HOOKS.get(function)
        if hook is not None:
            _mon_dispatch(hook, sys._getframe(1), "c_exception", function)
    if (offset in _SHUT.joins and code.co_qualname in _MON.names and _MON.watched.get(code) == "shutdown"
            and _get_ident() in _MON.threads):
        _mon_shutdown_call(sys._getframe(1), offset, function, arg0, "c_exception")


def _mon_bootstrap_call(frame: FrameType, offset: int, function: Any) -> None:
    """A call made by ``_bootstrap``: its ``self.run()`` starts the target (``_watch_bootstrap``),
    whose frame is the one of the callee's code that returns to ``_bootstrap``."""
    if not _BOOT.awaiting or frame is not _BOOT.frame or offset not in _S.run_offsets.get(frame.f_code, ()):
        return
    _BOOT.awaiting = False
    if not _hook_run(function):  # not a Python function: its first Python frame, as with setprofile
        sys.setprofile(_watch_bootstrap)


def _hook_run(run: Any) -> bool:
    """Hook the code ``_bootstrap``'s ``self.run()`` will run (False: not a Python function's): the
    start of its frame called by ``_bootstrap`` is the target's begin (``_on_run``), its return the
    end. Before the run, nothing watches ``_bootstrap``'s other calls (a CALL callback each under
    sys.monitoring, a second profile function under setprofile): every child would pay for them."""
    target = getattr(run, "__func__", run)
    code = getattr(target, "__code__", None)
    if not isinstance(code, CodeType):
        return False
    _BOOT.by_code, _BOOT.begun = True, False
    _BOOT.previous = _PY_HOOKS.get(code)
    if _BOOT.previous is not _on_run:  # (BaseProcess.run's is hooked at install: in the parent, once)
        _hook_code(code, _on_run, getattr(target, "__globals__", {}))
    return True


def _mon_shutdown_call(frame: FrameType, offset: int, function: Any, arg0: Any, event: str) -> None:
    """A C call made by ``threading._shutdown`` (``_watch_shutdown``): a method called on its
    object comes as the method's descriptor and the object (``arg0``)."""
    if frame is not _SHUT.frame:
        return
    name = getattr(function, "__name__", "")
    if event == "c_call" and name in ("acquire", "_shutdown"):
        lock = arg0 if type(function) is _METHOD_DESCRIPTOR else getattr(function, "__self__", None)
        details = _shutdown_join(name, lock)
        if details is None:
            return
        _SHUT.joins[offset] = (_now(), details)
        _emit("thread_join", _SHUT.joins[offset][0], None, **details)
    elif event != "c_call" and offset in _SHUT.joins:
        begin, details = _SHUT.joins.pop(offset)
        _emit("thread_joined", begin, _now(), **details)


class _FrameHook:
    """What the observer uses of ``sys.monitoring``, on 3.11: events local to code objects, made by
    the C filters' frame evaluation hook (observer_filter.c, PEP 523). Under a profile function
    3.11 runs every instruction of the program unspecialised and makes a frame object at every
    call (a forked child's cost grows by a sixth, a call-heavy one's fourfold); under this hook
    only the hooked code objects' frames are reported, the others run at full speed. PY_START,
    PY_RETURN and PY_UNWIND are given the frame (sys._getframe(1) is not it before the frame
    starts); a code object's CALL events come from a profile function set only while its own
    instructions run (its C calls), and from the hook before a Python callee's frame."""

    class events:
        PY_START, PY_RETURN, CALL, PY_UNWIND, C_RETURN, C_RAISE = 1, 4, 16, 4096, 32768, 65536

    PROFILER_ID = 2
    DISABLE = object()
    _GENERATED = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR: resumed, not called

    def __init__(self, filters: Any) -> None:
        self._filters = filters
        self._tools: dict[int, str] = {}
        self._callbacks: dict[int, Any] = {}

    def get_tool(self, tool: int) -> str | None:
        return self._tools.get(tool)

    def use_tool_id(self, tool: int, name: str) -> None:
        self._tools[tool] = name

    def register_callback(self, tool: int, event: int, callback: Any) -> None:
        self._callbacks[event] = callback

    def get_local_events(self, tool: int, code: CodeType) -> int:
        return self._filters.get_local_events(code)  # type: ignore[no-any-return]

    def set_local_events(self, tool: int, code: CodeType, events: int) -> None:
        if code.co_flags & self._GENERATED:  # (no hooked code is a generator's: a resumption is no call)
            events &= ~(self.events.PY_START | self.events.PY_RETURN)
        self._filters.set_local_events(code, events)

    def set_events(self, tool: int, events: int) -> None:
        """The global events: PY_UNWIND only, which the hook reports for the code with PY_RETURN."""
        calls = self._callbacks
        if not self._filters.frame_hook(_mon_started, _mon_returned, _mon_unwound, calls[self.events.CALL],
                                        calls[self.events.C_RETURN], calls[self.events.C_RAISE], self.DISABLE):
            raise ObserverError("the C filters' frame hook did not start (its check had passed): set "
                                "PROCLIFE_OBSERVER_PROFILE=1 to observe with the profile function")


def _frame_probe() -> None:
    """Called once through the C filters' checking hook (frame_check)."""


def _frame_claim() -> bool:
    """3.11: the C filters' frame hook as ``sys.monitoring`` (_FrameHook), where they loaded and
    this interpreter's layouts are the ones they read; False otherwise (the profile function then)."""
    global _sysmon
    if _C_FILTERS is None or hasattr(sys, "getobjects"):  # (a trace-refs build: other object headers)
        return False
    try:
        if not _C_FILTERS.frame_check(_frame_probe):
            return False
    except Exception:
        return False
    _sysmon = _FrameHook(_C_FILTERS)
    return _mon_claim()


def _mon_claim() -> bool:
    """Take a free sys.monitoring tool id, its callbacks registered, no event on yet; False if none
    is free (the observer then uses setprofile). The ids without a name first: cProfile takes
    PROFILER_ID (3.12+) and a debugger or coverage theirs, which the observer must not refuse them."""
    mon = _sysmon
    for tool in (4, 3, mon.PROFILER_ID):
        if mon.get_tool(tool) is None:
            break
    else:
        return False
    mon.use_tool_id(tool, "proclife observer")
    events = mon.events
    for event, callback in ((events.PY_START, _mon_start), (events.PY_RETURN, _mon_return),
                            (events.PY_UNWIND, _mon_unwind), (events.CALL, _mon_call),
                            (events.C_RETURN, _mon_c_return), (events.C_RAISE, _mon_c_raise)):
        mon.register_callback(tool, event, callback)
    _MON.tool = tool
    return True


def _mon_begin() -> None:
    """The code objects executed from now on scanned, and the global event on: events."""
    _AUDIT["exec"] = _mon_exec
    _sysmon.set_events(_MON.tool, _sysmon.events.PY_UNWIND)


class _Boot:
    """The one ``_bootstrap`` of this process: its frame, its run frame, the run's end."""

    frame: FrameType | None = None
    run: FrameType | None = None
    run_begin: int = 0
    run_end: int = 0
    baseline: BaseException | None = None
    previous: Hook | None = None  # the hook the run's code had before it ran as the target
    awaiting: bool = False  # sys.monitoring: _bootstrap has begun, its run (not a Python function's) not yet
    by_code: bool = False  # the run frame is the target code's frame returning to _bootstrap
    begun: bool = False  # that frame has started (target_begin written)


_BOOT = _Boot()


def _watch_bootstrap(frame: FrameType, event: str, arg: Any) -> None:
    """Inside ``_bootstrap`` before its run: the first call made from ``self.run()`` is the target."""
    boot = _BOOT.frame
    if (event == "call" and boot is not None and frame.f_back is boot
            and boot.f_lasti in _S.run_offsets.get(boot.f_code, ())):
        _BOOT.run, _BOOT.run_begin, _BOOT.baseline = frame, _now(), sys.exc_info()[1]
        code = frame.f_code
        _BOOT.previous = _PY_HOOKS.get(code)
        _hook_code(code, _on_run, frame.f_globals)  # the target runs under the fast profile, its code hooked
        _FRAMES[frame] = _on_run  # (its call is this event: its return must find it)
        _RESUME[0]()
        _emit("target_begin", _BOOT.run_begin, None, function=getattr(code, "co_qualname", code.co_name))
        return
    _PASS[0](frame, event, arg)


def _on_run(frame: FrameType, event: str, arg: Any) -> None:
    """A call or return of the target's code: the run frame's return ends the target."""
    if event == "return" and (frame is _BOOT.run or (_BOOT.by_code and frame.f_back is _BOOT.frame)):
        _BOOT.run_end = _now()
        if _BOOT.previous is None:
            _unhook_code(frame.f_code)
        elif _BOOT.previous is not _on_run:
            _PY_HOOKS[frame.f_code] = _BOOT.previous
        if _MONITORING:  # PY_RETURN, or PY_UNWIND with the exception that ends the run
            _target_end(_MON.unwinding)
        else:
            sys.setprofile(_watch_after_run)
    elif event == "call" and _BOOT.by_code and frame.f_back is _BOOT.frame:
        if not _BOOT.begun:  # the run frame's own start (under setprofile, _watch_bootstrap's event)
            _BOOT.begun, _BOOT.run_begin, _BOOT.baseline = True, _now(), sys.exc_info()[1]
            code = frame.f_code
            _emit("target_begin", _BOOT.run_begin, None, function=getattr(code, "co_qualname", code.co_name))
    elif _BOOT.previous is not None and _BOOT.previous is not _on_run:  # inherited from a forking target
        _BOOT.previous(frame, event, arg)


def _watch_after_run(frame: FrameType, event: str, arg: Any) -> None:
    """The next event after the run frame returned: ``_bootstrap`` is handling its exception, if any."""
    _RESUME[0]()
    _target_end(sys.exc_info()[1])
    _PASS[0](frame, event, arg)


def _target_end(exc: BaseException | None) -> None:
    details: dict[str, Any]
    if exc is None or exc is _BOOT.baseline:
        details = {"how": "returned"}
    elif isinstance(exc, SystemExit):
        details = {"how": "exit", "code": _exit_code_value(exc.code)}
    else:
        details = {"how": "raised", "exception": type(exc).__qualname__}
    _emit("target_end", _BOOT.run_begin, _BOOT.run_end, **details)
    _BOOT.run, _BOOT.by_code = None, False


def _exit_code_value(code: Any) -> Any:
    return code if code is None or isinstance(code, int | str) else repr(code)


class _Shutdown:
    frame: FrameType | None = None
    begin: int = 0
    joins: dict[int, tuple[int, dict[str, Any]]]

    def __init__(self) -> None:
        self.joins = {}


_SHUT = _Shutdown()


def _watch_shutdown(frame: FrameType, event: str, arg: Any) -> None:
    """Inside ``threading._shutdown``: each tstate lock acquired is a join of its thread (3.11);
    ``_thread._shutdown()`` joins every non-daemon thread at once (3.13)."""
    if frame is not _SHUT.frame:
        _PASS[0](frame, event, arg)
        return
    if event == "return":
        _RESUME[0]()
        _emit("exit_step", _SHUT.begin, _now(), step="threading._shutdown")
        _SHUT.frame = None
        return
    name = getattr(arg, "__name__", "")
    if event == "c_call" and name in ("acquire", "_shutdown"):
        details = _shutdown_join(name, getattr(arg, "__self__", None))
        if details is None:
            return
        _SHUT.joins[id(arg)] = (_now(), details)
        _emit("thread_join", _SHUT.joins[id(arg)][0], None, **details)
    elif event in ("c_return", "c_exception") and id(arg) in _SHUT.joins:
        begin, details = _SHUT.joins.pop(id(arg))
        _emit("thread_joined", begin, _now(), **details)


def _shutdown_join(name: str, lock: Any) -> dict[str, Any] | None:
    """The details of a join by ``threading._shutdown``: a tstate lock acquired (3.11), or
    ``_thread._shutdown()`` (3.13), which is no join when no non-daemon thread is alive (nothing
    it could wait for: no event, two fewer for every process)."""
    if name == "acquire":
        return {"via": "threading._shutdown", **_thread_of_lock(lock)}
    threads = _live_threads(daemon=False)
    return {"via": "_thread._shutdown", "threads": threads} if threads else None


def _thread_of_lock(lock: Any) -> dict[str, Any]:
    for thread in list(_active.values()):
        if getattr(thread, "_tstate_lock", None) is lock:
            return _describe_thread(thread)
    return {"name": None, "native_id": None, "daemon": False}


def _describe_thread(thread: Any) -> dict[str, Any]:
    """A Thread's name, ids and daemon flag, read from its own fields: its properties are Python
    calls (on 3.11 each one profiled, and its code's pages touched in every forked child)."""
    own = getattr(thread, "__dict__", None)
    if type(own) is dict and "_name" in own and "_daemonic" in own:
        return {"name": own["_name"], "native_id": own.get("_native_id"), "daemon": own["_daemonic"],
                "ident": own.get("_ident")}
    return {"name": thread.name, "native_id": getattr(thread, "native_id", None), "daemon": thread.daemon,
            "ident": thread.ident}


def _live_threads(daemon: bool | None = None) -> list[str]:
    main = threading.main_thread()
    return [t.name for t in list(_active.values())
            if t is not main and t.is_alive() and (daemon is None or t.daemon == daemon)]


# ----------------------------------------------------------------------------------------------
# Hook handlers, by role (FAMILIES and THREADING name the roles).

_PENDING: dict[FrameType, int] = {}


def _self(frame: FrameType) -> Any:
    return frame.f_locals.get("self")


def _process_facts(proc: Any) -> dict[str, Any]:
    config = getattr(proc, "_config", {}) or {}
    return {"name": getattr(proc, "_name", None), "daemon": bool(config.get("daemon", False)),
            "class": type(proc).__qualname__, "method": getattr(proc, "_start_method", None)}


def _on_process_init(frame: FrameType, event: str, arg: Any) -> None:
    if event == "return":
        _hook_overrides(type(_self(frame)))
        given = frame.f_locals.get("daemon")
        _emit("process_created", _now(), None, **_process_facts(_self(frame)), daemon_given=given is not None)


def _on_bootstrap(frame: FrameType, event: str, arg: Any) -> None:
    if event == "call" and _BOOT.frame is None:
        _BOOT.frame = frame
        proc = _self(frame)
        _emit("process_begin", _now(), None, ppid=os.getppid(), **_process_facts(proc))
        if not _hook_run(getattr(proc, "run", None)):  # a run that is no Python function's:
            if _MONITORING:  # the CALL of it (_mon_bootstrap_call)
                _BOOT.awaiting = True
                _mon_local(frame.f_code, _sysmon.events.CALL)
            else:  # its first Python frame
                sys.setprofile(_watch_bootstrap)
    elif event == "return" and frame is _BOOT.frame:
        _emit("exit_status", _now(), None, exitcode=arg, via="_bootstrap")


# The starts in progress: Popen.__init__ frame -> (its call's time, the Popen, the facts written
# at the call), and the threads starting a process (their fork is the start's: no "fork" event).
_STARTS: dict[FrameType, tuple[int, Any, dict[str, Any]]] = {}
_STARTING: set[int] = set()


def _on_popen_init(frame: FrameType, event: str, arg: Any) -> None:
    """A process start, from the call of ``Popen.__init__`` (before the fork) to its return. The
    facts are read at the call: after the fork every page the parent reads an object on (its
    reference count) is a page copied, once per child."""
    if event == "call":
        popen, proc = _self(frame), frame.f_locals.get("process_obj")
        begin, facts = _now(), _process_facts(proc)
        facts["popen"] = getattr(type(popen), "method", None)
        _STARTS[frame] = (begin, popen, facts)
        _STARTING.add(_get_ident())
        _emit("process_start", begin, None, **facts)
        return
    _STARTING.discard(_get_ident())
    started = _STARTS.pop(frame, None)
    if started is None:  # hooked while the start was under way: read it now
        popen = _self(frame)
        started = (_now(), popen, {**_process_facts(frame.f_locals.get("process_obj")),
                                   "popen": getattr(type(popen), "method", None)})
    begin, popen, facts = started
    _emit("process_started", begin, _now(), **facts, child=getattr(popen, "pid", None))


# The joins in progress, (thread, child pid) -> the outermost join frame: an override of join that
# calls super().join() is one join, reported once.
_JOINS: dict[tuple[int, Any], FrameType] = {}


def _on_process_join(frame: FrameType, event: str, arg: Any) -> None:
    """``Process.join`` (the base class's, or a subclass's override of it): a join of a child."""
    proc = _self(frame)
    popen = getattr(proc, "_popen", None)
    pid = getattr(popen, "pid", None)
    key = (threading.get_ident(), pid)
    if event == "call":
        if pid is None or key in _JOINS:
            return
        _JOINS[key] = frame
        _PENDING[frame] = _now()
        _emit("child_join", _PENDING[frame], None, child=pid, timeout=frame.f_locals.get("timeout"),
              via=f"{type(proc).__qualname__}.join")
    elif _JOINS.get(key) is frame:
        del _JOINS[key]
        begin = _PENDING.pop(frame, _now())
        state, status = _child_state(pid)
        _emit("child_joined", begin, _now(), child=pid, returncode=getattr(popen, "returncode", None),
              kernel=state, status=status, popen=getattr(type(popen), "method", None))


# A subclass of Process may override these; its override is hooked in the same role when an
# instance of it is created (the first time only).
_OVERRIDABLE = {"join": "process_join"}
_CLASSES_SEEN: set[type] = set()


def _hook_overrides(cls: type) -> None:
    if cls in _CLASSES_SEEN:
        return
    _CLASSES_SEEN.add(cls)
    for name, role in _OVERRIDABLE.items():
        method = getattr(cls, name, None)
        function = getattr(method, "__wrapped__", method)
        code = getattr(function, "__code__", None)
        if function is not None and code is not None and code not in _PY_HOOKS:
            _hook_code(code, _ROLES[role], function.__globals__)


def _on_popen_signal(name: str) -> Callable[[FrameType, str, Any], None]:
    def handler(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            popen = _self(frame)
            _emit("terminate", _now(), None, child=getattr(popen, "pid", None), how=name,
                  returncode=getattr(popen, "returncode", None))
    return handler


def _on_exit_function(frame: FrameType, event: str, arg: Any) -> None:
    if event == "call":
        _PENDING[frame] = _now()
        _emit("exit_step_begin", _PENDING[frame], None, step="util._exit_function",
              caller="interpreter" if frame.f_back is None else frame.f_back.f_code.co_name,
              repeat=bool(frame.f_globals.get("_exiting")),
              children=_children_facts(frame))
    else:
        _emit("exit_step", _PENDING.pop(frame, _now()), _now(), step="util._exit_function")


def _children_facts(frame: FrameType) -> list[dict[str, Any]]:
    process = frame.f_globals.get("process")
    children = getattr(process, "_children", None) or ()
    return [{"pid": getattr(getattr(c, "_popen", None), "pid", None),
             "daemon": bool(getattr(c, "_config", {}).get("daemon", False))} for c in list(children)]


def _on_shutdown(frame: FrameType, event: str, arg: Any) -> None:
    if event != "call":
        if _MONITORING and frame is _SHUT.frame:  # what _watch_shutdown does with setprofile
            _emit("exit_step", _SHUT.begin, _now(), step="threading._shutdown")
            _SHUT.frame = None
        return
    main = frame.f_globals.get("_main_thread")
    handle = getattr(main, "_handle", None)
    repeat = handle.is_done() if handle is not None else bool(getattr(main, "_is_stopped", False))
    _SHUT.frame, _SHUT.begin = frame, _now()
    _emit("exit_step_begin", _SHUT.begin, None, step="threading._shutdown",
          caller="interpreter" if frame.f_back is None else frame.f_back.f_code.co_name,
          repeat=repeat, threads=_live_threads(daemon=False))
    if not _MONITORING:  # under sys.monitoring: its CALL events (_mon_shutdown_call) and its return
        sys.setprofile(_watch_shutdown)


def _on_thread_join(frame: FrameType, event: str, arg: Any) -> None:
    thread = _self(frame)
    if event == "call":
        _PENDING[frame] = _now()
        _emit("thread_join", _PENDING[frame], None, via="Thread.join", timeout=frame.f_locals.get("timeout"),
              **_describe_thread(thread))
    else:
        _emit("thread_joined", _PENDING.pop(frame, _now()), _now(), via="Thread.join",
              alive=thread.is_alive(), **_describe_thread(thread))


def _on_queue_cancel(frame: FrameType, event: str, arg: Any) -> None:
    """``Queue.cancel_join_thread()``: no finalizer will join this queue's feeder thread (started or to come)."""
    if event == "call":
        feeder = getattr(_self(frame), "_thread", None)
        t = _now()
        _emit("queue_cancel_join", t, t, feeder=getattr(feeder, "native_id", None))


def _on_thread_started(frame: FrameType, event: str, arg: Any) -> None:
    """3.11: ``Thread.start`` returned, having waited for the thread to run (it raised otherwise)."""
    thread = _self(frame)
    started = getattr(thread, "_started", None)
    if event == "return" and started is not None and started.is_set():
        _emit("thread_start", _now(), None, where=_start_site(frame.f_back), **_describe_thread(thread))


def _on_thread_bootstrap(frame: FrameType, event: str, arg: Any) -> None:
    if event == "return":
        _emit("thread_end", _now(), None, as_thread=_self(frame))
        _MON.threads.discard(_get_ident())


_POLLS: dict[FrameType, Any] = {}


_TEMP_CALLS: dict[FrameType, bool] = {}  # get_temp_dir frames -> whether the folder existed at the call


def _on_temp_dir(frame: FrameType, event: str, arg: Any) -> None:
    """``util.get_temp_dir`` made this process's ``pymp-*`` folder, which a finalizer removes at its
    exit: a process killed by SIGKILL leaves it, and the tracer that killed it removes it."""
    if event == "call":
        current = getattr(frame.f_globals.get("process"), "_current_process", None)
        config = getattr(current, "_config", None)
        _TEMP_CALLS[frame] = not isinstance(config, dict) or config.get("tempdir") is not None
    elif not _TEMP_CALLS.pop(frame, True) and isinstance(arg, str):
        _emit("temp_dir", _now(), None, path=arg)


def _on_popen_poll(frame: FrameType, event: str, arg: Any) -> None:
    """The parent learns a child's exit status (from waitpid, or from the forkserver's message)."""
    if event == "call":
        _POLLS[frame] = getattr(_self(frame), "returncode", None)
    elif _POLLS.pop(frame, 0) is None and arg is not None:  # (the locals read only then: a dict on 3.11)
        popen = _self(frame)
        _emit("child_status", _now(), None, child=getattr(popen, "pid", None), returncode=arg,
              popen=getattr(type(popen), "method", None))


def _on_os_exit(frame: FrameType, event: str, arg: Any) -> None:
    if event == "c_call":
        (code,) = call_arguments(frame, 1)
        _emit("os_exit", _now(), None, code=code, where=f"{frame.f_code.co_filename}:{frame.f_lineno}")


def _on_sys_exit(frame: FrameType, event: str, arg: Any) -> None:
    if event == "c_call":
        (code,) = call_arguments(frame, 1)
        _emit("sys_exit", _now(), None, code=_exit_code_value(code))


def _on_wait(frame: FrameType, event: str, arg: Any) -> None:
    """``os.waitpid(pid, ...)``/``os.waitid(P_PID, pid, ...)`` returned and the child is gone: this
    call reaped it (a wait on a process that is no child of this one raises; one that leaves the
    child running or a zombie returns and leaves it there). Read only after the call: before it the
    child is usually running, and whatever the parent touches then is a page it copies."""
    if event != "c_return":
        return
    name = arg.__name__
    args = call_arguments(frame, 3)
    pid = args[0] if name == "waitpid" else args[1]
    if _child_state(pid)[0] == "gone":
        _emit("child_reaped", _now(), None, child=pid, via=f"os.{name}",
              options=args[1] if name == "waitpid" else args[2])


def _on_signal_signal(frame: FrameType, event: str, arg: Any) -> None:
    if event == "c_return":
        _note_dispositions(changed_only=True)


def _disposition(handler: Any) -> str:
    if handler is signal.SIG_DFL:
        return "default"
    if handler is signal.SIG_IGN:
        return "ignore"
    if handler is None:
        return "not set from Python"
    if handler is signal.default_int_handler:
        return "default_int_handler"
    return "python:" + getattr(handler, "__qualname__", repr(handler))


def _note_dispositions(changed_only: bool) -> dict[str, str]:
    now = {}
    for name in _DISPOSITIONS_TRACKED:
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        handler = signal.getsignal(signum)
        now[name] = _disposition(handler)
        code = getattr(handler, "__code__", None)
        if code is not None and code not in _PY_HOOKS:
            _hook_code(code, _on_signal_handler, getattr(handler, "__globals__", {}))
        if changed_only and _S.dispositions.get(name) != now[name]:
            _emit("signal_disposition", _now(), None, signal=name, disposition=now[name])
    _S.dispositions = now
    return now


def _on_signal_handler(frame: FrameType, event: str, arg: Any) -> None:
    if event == "call":
        signum = frame.f_locals.get(frame.f_code.co_varnames[0]) if frame.f_code.co_argcount else None
        name = signal.Signals(signum).name if isinstance(signum, int) and signum in signal.Signals._value2member_map_ \
            else signum
        _emit("signal_handler", _now(), None, signal=name, handler=frame.f_code.co_name)


# ----------------------------------------------------------------------------------------------
# Audit events (one-way hooks: the function stays cheap and does nothing when not installed).


def _signal_name(signum: Any) -> Any:
    try:
        return signal.Signals(signum).name
    except (ValueError, TypeError):
        return signum


_AUDIT: dict[str, Callable[[tuple[Any, ...]], None]] = {
    "os.kill": lambda a: _emit("signal_sent", _now(), None, target=a[0], signal=_signal_name(a[1])),
    "os.killpg": lambda a: _emit("signal_sent", _now(), None, group=a[0], signal=_signal_name(a[1])),
    "signal.pthread_kill": lambda a: _emit("signal_sent", _now(), None, thread_id=a[0],
                                           signal=_signal_name(a[1])),
    "os.fork": lambda a: _on_fork(),
    "os.posix_spawn": lambda a: _emit("exec", _now(), None, via="os.posix_spawn", path=a[0], argv=a[1]),
    "os.exec": lambda a: _emit("exec", _now(), None, via="os.exec", path=a[0], argv=a[1]),
    "subprocess.Popen": lambda a: _emit("exec", _now(), None, via="subprocess.Popen", path=a[0], argv=a[1]),
    "_thread.start_new_thread": lambda a: _on_thread_start(a[0]),  # 3.12
    "_thread.start_joinable_thread": lambda a: _on_thread_start(a[0]),  # 3.13
    "sys.excepthook": lambda a: _emit("uncaught", _now(), None, exception=getattr(a[1], "__qualname__", None)),
}


def _on_fork() -> None:
    """Before a fork: read the forking code's bytecode now, so that the child inherits it. The
    child's ``os._exit`` is usually called from that code (``Popen._launch``), and reading its
    argument there would cost every child a read of it and its pages. A process start's fork is
    written as the start (``process_start``/``process_started``), and only its first one has the
    code read: the start's code does not change."""
    starting = _get_ident() in _STARTING
    if starting:
        if _S.start_forked:
            return
        _S.start_forked = True
    try:
        caller = sys._getframe(3)  # past this function, the audit table's lambda and _audit
    except ValueError:
        caller = None
    if caller is not None and caller.f_code not in _FORKING:  # its plans: each CALL's, the os._exit's
        code = caller.f_code  # among them (once: what the parent touches between forks is copied again)
        _FORKING[code] = True
        plans = _code_plans(code)
        for ins in _instructions(code)[0]:
            if ins.opname == "CALL" and ins.offset not in plans:
                plans[ins.offset] = _plan(code, ins.offset)
    if not starting:
        _emit("fork", _now(), None)


_FORKING = _CodeMap()  # the code objects that forked, their bytecode read: CodeType -> True


def _on_thread_start(function: Any) -> None:
    thread = getattr(function, "__self__", None)
    if isinstance(thread, threading.Thread):
        _emit("thread_start", _now(), None, where=_start_site(sys._getframe(1)), **_describe_thread(thread))


_NOT_THE_PROGRAM = (vars(threading), globals())  # the globals of their frames (f_code is an audit event)


def _start_site(frame: FrameType | None) -> str | None:
    """``file:line`` of the program's call that started a thread: the first frame outside threading."""
    while frame is not None and (frame.f_globals is _NOT_THE_PROGRAM[0] or frame.f_globals is _NOT_THE_PROGRAM[1]):
        frame = frame.f_back
    return None if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _audit(event: str, args: tuple[Any, ...]) -> None:
    handler = _AUDIT.get(event)
    if handler is not None and _S.installed:
        handler(args)


# ----------------------------------------------------------------------------------------------
# Installing.


def _resolve(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


_ROLES: dict[str, Callable[[FrameType, str, Any], None]] = {
    "process_init": _on_process_init,
    "bootstrap": _on_bootstrap,
    "popen_init": _on_popen_init,
    "process_join": _on_process_join,
    "popen_poll": _on_popen_poll,
    "popen_terminate": _on_popen_signal("terminate"),
    "popen_kill": _on_popen_signal("kill"),
    "exit_function": _on_exit_function,
    "shutdown": _on_shutdown,
    "thread_join": _on_thread_join,
    "queue_cancel": _on_queue_cancel,
    "temp_dir": _on_temp_dir,
    "thread_bootstrap": _on_thread_bootstrap,
    "thread_start": _on_thread_started,
}


# Hooks whose module was not imported yet, by module name: hooked when that module's code has run
# (its ``<module>`` frame returns: under the profile function that code is hooked when the
# ``exec`` audit event shows it about to run; under sys.monitoring it gets a PY_RETURN event).
# Installing imports nothing: a spawned interpreter that never starts a forkserver never pays for
# importing popen_forkserver.
_AWAITED: dict[str, dict[str, str]] = {}


def _awaited_module(filename: str) -> str | None:
    """The awaited module whose source ``filename`` is (``pkg/mod.py``, ``pkg/mod/__init__.py``), or None."""
    path = "/" + filename.replace(os.sep, "/")  # (a relative path too: a frozen application's)
    for name in _AWAITED:
        stem = "/" + name.replace(".", "/")
        if path.endswith(stem + ".py") or path.endswith(stem + "/__init__.py"):
            return name
    return None


def _profile_exec(args: tuple[Any, ...]) -> None:
    """The ``exec`` audit event under the profile function: a module awaited is about to run. Its
    ``<module>`` code is hooked, so that the profile function sees it return (the module
    executed) without reading every returning frame's globals."""
    if not _AWAITED or not args:
        return
    code = args[0]
    if type(code) is CodeType and code.co_name == "<module>":
        name = _awaited_module(code.co_filename)
        if name is not None:
            _hook_code_of(code, _on_module_body, name)


def _on_module_body(frame: FrameType, event: str, arg: Any) -> None:
    if event == "return":
        _unhook_code(frame.f_code)  # (its module runs once)
        _module_executed(frame)


def _module_executed(frame: FrameType) -> None:
    if frame.f_code.co_name != "<module>":
        return  # a function of the module returned while the module was being imported
    names = _AWAITED.pop(frame.f_globals["__name__"], {})
    before = len(_S.unhooked)
    _hook_names(names, optional=False, defer=False)
    if len(_S.unhooked) > before:
        _emit("observer_unhooked", _now(), None, unhooked=_S.unhooked[before:])


def _hook_names(names: dict[str, str], optional: bool, defer: bool = True) -> None:
    for target, role in names.items():
        module_name = target.partition(":")[0]
        if defer and module_name not in sys.modules:
            _AWAITED.setdefault(module_name, {})[target] = role
            _MODULES.add(module_name)
            continue
        try:
            obj = _resolve(target)
        except (ImportError, AttributeError):
            if not optional:
                _S.unhooked.append(target)
            continue
        function = getattr(obj, "__wrapped__", obj)
        code = getattr(function, "__code__", None)
        if code is None:
            _S.unhooked.append(target)
            continue
        if _MONITORING and role in ("target_caller", "process_run"):  # CALL events in a run() that calls a
            _MON.callers[code] = True  # target; a process's run() starts and returns too: instrumented here,
            _MON.names.add(code.co_qualname)  # not in each child
            events = _sysmon.events
            _mon_local(code, events.CALL | (events.PY_START | events.PY_RETURN if role == "process_run" else 0))
        if role == "process_run":  # hooked here, so that no forked child writes the hook tables (_hook_run)
            _hook_code(code, _on_run, function.__globals__)
        if role in ("target_caller", "process_run"):
            continue
        _hook_code(code, _ROLES[role], function.__globals__)
        if role in ("bootstrap", "thread_bootstrap"):
            _S.run_offsets[code] = _call_offsets(code, "run")
        if role in ("bootstrap", "shutdown") and _MONITORING:
            _MON.watched[code] = role
            _MON.names.add(code.co_qualname)
            if role == "shutdown":  # (_bootstrap's CALL events only when its run is no Python function's)
                _mon_local(code, _sysmon.events.CALL)


def hook_family(name: str) -> None:
    """Hook one implementation family of FAMILIES (its modules are imported now)."""
    if name not in FAMILIES:
        raise ObserverError(f"unknown observer family {name!r}; known: {', '.join(FAMILIES)}")
    _hook_names(FAMILIES[name], optional=False)
    _hook_names({f"{name}.process:BaseProcess.run": "process_run"}, optional=True)
    _S.families = (*_S.families, name)


def _register_stacks() -> str | None:
    """Dump every thread's stack to this interpreter's own file on STACKS_SIGNAL (faulthandler, no
    thread): how ``proclife trace`` sees where a process that does not end is blocked. A forked
    child keeps its parent's registration and file (creating a file cost each child about 320 us,
    registering again 100 us); the tracer asks one process of a file at a time."""
    if _S.stacks is None:
        return None
    import faulthandler

    path = os.path.join(_S.stacks, STACKS_FILE.format(pid=_S.pid))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_TRUNC, 0o644)
    high = _fcntl_dup_high(fd)
    if high != fd:
        os.close(fd)
    _S.stacks_path = path  # (the descriptor stays open: faulthandler writes to it)
    faulthandler.register(STACKS_SIGNAL, file=high, all_threads=True, chain=False)
    return path


def _after_fork_in_child() -> None:
    parent, _S.pid = _S.pid, os.getpid()
    _STARTS.clear()  # the parent's start in progress is not this process's
    _STARTING.clear()
    _BOOT.frame = _BOOT.run = None
    _BOOT.awaiting = _BOOT.by_code = _BOOT.begun = False
    _SHUT.frame = None
    ident = _get_ident()
    _MON.threads = {ident} if ident in _MON.threads else set()
    if _S.stacks_path is None:
        _emit("forked", _now(), None, ppid=parent)
    else:  # its dumps go to the file it inherited
        _emit("forked", _now(), None, ppid=parent, stacks=_stacks_facts(_S.stacks_path))


def _stacks_facts(path: str) -> dict[str, Any]:
    return {"signal": int(STACKS_SIGNAL), "file": path}


def install(sink: str | int, families: tuple[str, ...] = ("multiprocessing",), export: bool = True,
            stacks: str | None = None) -> None:
    """Observe this process and every process it starts, writing events to ``sink``.

    ``sink`` is a path (opened O_APPEND: shared by the tree) or an open descriptor (``fd:N``
    or an int: carried only by fork). With ``export`` the path goes into the environment
    (PROCLIFE_OBSERVER) so that a spawned or forkserver interpreter whose ``sitecustomize``
    calls ``install_from_environment()`` observes itself into the same sink. Call it before the
    program starts threads: a thread already running is not observed (3.11 has no
    ``threading.setprofile_all_threads``). Installing twice is a no-op.

    ``stacks`` (a folder) changes one disposition: STACKS_SIGNAL then makes the process write
    every thread's stack to ``stacks-PID.txt`` there (a forked child to its parent's file); with
    ``export`` the folder is passed on too (PROCLIFE_OBSERVER_STACKS).
    """
    if _S.installed:
        return
    if sys.getprofile() is not None:
        raise ObserverError("a profile function is already set (a profiler or debugger): the observer "
                            "needs sys.setprofile; run without the other profiler")
    _S.fd, _S.pid = _open_sink(sink), os.getpid()
    if export and isinstance(sink, str):
        os.environ[ENV_SINK] = sink
        os.environ[ENV_FAMILIES] = ",".join(families)
        if stacks is not None:
            os.environ[ENV_STACKS] = stacks
    _S.stacks = stacks
    stacks_file = _register_stacks()
    c_hooks: dict[Any, Hook] = {
        os._exit: _on_os_exit, sys.exit: _on_sys_exit, os.waitpid: _on_wait, os.waitid: _on_wait,
        importlib.import_module("_signal").signal: _on_signal_signal,  # signal.signal wraps it in Python
    }
    _C_HOOKS.update(c_hooks)
    global _MONITORING, _FILTER, _C_FILTERS, _C_EMIT
    _C_FILTERS = _load_filter(os.environ.get(ENV_FILTER))
    if getattr(_C_FILTERS, "emit_arm", None) is not None and _ENCODER is not None:  # (the Python writer's lines)
        _C_FILTERS.emit_arm(_active)
        _C_EMIT = _C_FILTERS.emit
    if os.environ.get(ENV_PROFILE) == "1":
        _MONITORING = False
    else:  # 3.11: the C filters' frame hook, where they can run here
        _MONITORING = _mon_claim() if sys.version_info >= (3, 12) else _frame_claim()
    _FILTER = None if _MONITORING else _C_FILTERS
    if _FILTER is not None:
        for function in c_hooks:
            _FILTER.hook_c(function)
    _hook_names(THREADING, optional=False)
    if _MONITORING:
        _hook_names({"threading:Thread.run": "target_caller"}, optional=True)
    for family in families:
        hook_family(family)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    if _MONITORING:  # before the audit hook: reading a function's __code__ is an audit event
        _mon_scan_loaded()
    else:
        _AUDIT["exec"] = _profile_exec
    _add_audit_hook()
    _S.installed = True
    dispositions = _note_dispositions(changed_only=False)
    _emit("observer_installed", _now(), None, schema=SCHEMA, ppid=os.getppid(), python=sys.version.split()[0],
          argv=sys.argv[:4], families=list(_S.families), unhooked=_S.unhooked, dispositions=dispositions,
          hooks=_hooks_used(),
          threads=_live_threads(), **({"stacks": _stacks_facts(stacks_file)} if stacks_file else {}))
    if _MONITORING:
        _MON.threads.add(_get_ident())
        _PASS[0], _RESUME[0] = _nothing, _no_profile
        _mon_begin()
    else:
        threading.setprofile(_thread_first)
        _fast_profile()


def _add_audit_hook() -> None:
    """The audit hook: in C where the filters loaded, which calls ``_audit`` only for the events it
    handles (a program's every ``sys._getframe``, like each hook's, is an audit event), else ``_audit``."""
    if _C_FILTERS is not None:
        try:
            _C_FILTERS.audit_hook(_audit, (*_AUDIT, "exec"))
            return
        except Exception:  # (another audit hook refused it)
            pass
    sys.addaudithook(_audit)


def _hooks_used() -> str:
    if _MONITORING:
        base = "frame evaluation hook" if isinstance(_sysmon, _FrameHook) else "sys.monitoring"
    else:
        base = "sys.setprofile"
    return f"{base}, C filter" if _C_FILTERS is not None else base


def install_from_environment() -> bool:
    """Install if PROCLIFE_OBSERVER names a sink (what a ``sitecustomize`` calls); True if it did."""
    sink = os.environ.get(ENV_SINK)
    if not sink or _S.installed:
        return False
    families = tuple(f for f in os.environ.get(ENV_FAMILIES, "multiprocessing").split(",") if f)
    install(sink, families=families, export=False, stacks=os.environ.get(ENV_STACKS) or None)
    return True


def installed() -> bool:
    return _S.installed


def _main(argv: list[str]) -> int:
    """``python -m proclife.runtime.observer SINK``: the sink's events, one line each, in time order."""
    if len(argv) != 1:
        print("usage: python -m proclife.runtime.observer SINK_PATH", file=sys.stderr)
        return 2
    try:
        events = read_events(argv[0])
    except (OSError, ValueError) as exc:
        print(f"cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 2
    for line in _format(events):
        print(line)
    return 0


def _format(events: list[Event]) -> Iterator[str]:
    start = events[0].begin if events else 0
    for e in events:
        span = "" if e.end is None or e.end == e.begin else f" (+{(e.end - e.begin) / 1e6:.1f} ms)"
        yield f"{(e.time - start) / 1e6:10.3f} ms  pid {e.pid:<7} {e.thread:<12} {e.kind:<16} {e.details}{span}"


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
