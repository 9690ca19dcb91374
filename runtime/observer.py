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
  of the library's own machinery (``BaseProcess._bootstrap``'s call of ``self.run``, whatever
  ``run`` is; ``Popen.wait``; ``util._exit_function``; ``threading._shutdown``), C calls
  (``os._exit``, ``os.waitpid``, ``signal.signal``) and audit events (``os.kill``, ``os.fork``).
  ``FAMILIES`` is the registry of those names per implementation family.
- The profile function filters on one dict lookup per call; the richer watchers run only inside
  the few frames that need them (a ``_bootstrap`` before its ``run``, ``threading._shutdown``).
- Each event is one ``os.write`` of a line shorter than PIPE_BUF on an ``O_APPEND`` descriptor:
  lines of different processes never interleave, nothing is buffered, and a process killed by
  SIGKILL has written every event up to its death.
"""

from __future__ import annotations

import dis
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import CodeType, FrameType, ModuleType

TYPE_CHECKING = False  # typing and dataclasses would cost every observed interpreter milliseconds at start
if TYPE_CHECKING:
    from typing import Any

ENV_SINK = "PROCLIFE_OBSERVER"
ENV_FAMILIES = "PROCLIFE_OBSERVER_FAMILIES"
ENV_STACKS = "PROCLIFE_OBSERVER_STACKS"  # a folder: set only by ``proclife trace`` (install(..., stacks=))
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


class _State:
    """Per-process state: the sink, the cached pid, the hooks resolved at install."""

    fd: int = -1
    pid: int = 0
    dropped: int = 0
    installed: bool = False
    families: tuple[str, ...] = ()
    unhooked: list[str]
    run_offsets: dict[CodeType, frozenset[int]]
    dispositions: dict[str, str]
    stacks: str | None = None  # the folder of the per-process stack dumps, or None (not asked for)
    stacks_fd: int = -1

    def __init__(self) -> None:
        self.unhooked = []
        self.run_offsets = {}
        self.dispositions = {}


_S = _State()
_now = time.monotonic_ns
_get_ident = threading.get_ident
_active = threading._active  # type: ignore[attr-defined]  # never current_thread(): it may lock


def _thread_identity(thread: Any = None) -> tuple[int, str, bool | None]:
    thread = thread or _active.get(_get_ident())
    native = threading.get_native_id()
    if thread is None:
        return native, "?", None
    return native, thread.name, thread.daemon


def _emit(kind: str, begin: int, end: int | None, /, *, as_thread: Any = None, **details: Any) -> None:
    """Write one event now: one os.write of one line (shortened to fit under PIPE_BUF).

    ``as_thread``: the Thread this thread is, when ``threading`` has already forgotten it
    (a thread's last moments, after ``Thread._delete``).
    """
    if _S.fd < 0:
        return
    tid, name, daemon = _thread_identity(as_thread)
    record = {"pid": _S.pid, "tid": tid, "thread": name, "thread_daemon": daemon, "kind": kind,
              "begin": begin, "end": end, **details}
    data = json.dumps(record, default=repr, separators=(",", ":")).encode() + b"\n"
    if len(data) > LINE_LIMIT:
        short = {k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in details.items()}
        record = {**record, **short, "truncated": True}
        data = json.dumps(record, default=repr, separators=(",", ":")).encode()[: LINE_LIMIT - 1] + b"\n"
        if not data.endswith(b"}\n"):  # still too long: keep the identity, drop the details
            data = json.dumps({**{k: record[k] for k in _BASE_FIELDS}, "truncated": True}).encode() + b"\n"
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
_INSTRUCTIONS: dict[CodeType, tuple[list[dis.Instruction], dict[int, int]]] = {}
_SKIP = {"PRECALL", "PUSH_NULL", "KW_NAMES", "CACHE", "EXTENDED_ARG"}


def _instructions(code: CodeType) -> tuple[list[dis.Instruction], dict[int, int]]:
    found = _INSTRUCTIONS.get(code)
    if found is None:
        listing = list(dis.get_instructions(code))
        found = _INSTRUCTIONS[code] = (listing, {ins.offset: i for i, ins in enumerate(listing)})
    return found


def _lookup(frame: FrameType, ins: dis.Instruction) -> Any:
    op, name = ins.opname, ins.argval
    if op == "LOAD_CONST" or op == "LOAD_SMALL_INT":
        return name
    if op.startswith("LOAD_FAST") or op == "LOAD_DEREF" or op == "LOAD_NAME":
        value = frame.f_locals.get(name, _UNKNOWN)
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


def call_arguments(frame: FrameType, count: int) -> list[Any]:
    """The first ``count`` positional arguments of the call ``frame`` is making (``None`` if unknown)."""
    listing, index = _instructions(frame.f_code)
    at = index.get(frame.f_lasti)
    if at is None or listing[at].opname != "CALL":
        return [None] * count
    i = at - 1
    while i >= 0 and listing[i].opname in _SKIP:
        i -= 1
    argc = listing[at].arg or 0
    values: list[Any] = []
    while i >= 0 and len(values) < argc:
        attrs = []
        while i >= 0 and listing[i].opname == "LOAD_ATTR":
            attrs.append(listing[i].argval)
            i -= 1
        if i < 0:
            break
        ins = listing[i]
        if ins.opname == "LOAD_FAST_LOAD_FAST" and not attrs:  # 3.13: two locals in one
            first, second = ins.argval
            values += [frame.f_locals.get(second, _UNKNOWN), frame.f_locals.get(first, _UNKNOWN)]
            i -= 1
            continue
        value = _lookup(frame, ins)
        for name in reversed(attrs):
            value = _UNKNOWN if value is _UNKNOWN else _attribute(value, name)
        values.append(value)
        if value is _UNKNOWN:
            break
        i -= 1
    args = list(reversed(values[:argc])) if len(values) >= argc else []
    args = [None if v is _UNKNOWN else v for v in args] + [None] * count
    return args[:count]


def _call_offsets(code: CodeType, attr: str) -> frozenset[int]:
    """Offsets of the CALLs in ``code`` whose callee is ``<expr>.attr`` (``self.run()``)."""
    offsets: set[int] = set()
    armed = False
    listing = list(dis.get_instructions(code))
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
_PY_HOOKS: dict[CodeType, Hook] = {}
_C_HOOKS: dict[Any, Hook] = {}  # C functions (their hash is two pointers)


def _hook_code(code: CodeType, hook: Hook, globals_: dict[str, Any]) -> None:
    _MODULES.add(globals_.get("__name__", ""))
    _PY_HOOKS[code] = hook


def _profile(frame: FrameType, event: str, arg: Any, _modules: set[str] = _MODULES,
             _py: dict[CodeType, Hook] = _PY_HOOKS, _c: dict[Any, Hook] = _C_HOOKS) -> None:
    """Called for every call and return: two cheap filters before anything else."""
    if event == "call" or event == "return":
        if frame.f_globals.get("__name__") not in _modules:
            return
        hook = _py.get(frame.f_code)
        if hook is None and event == "return" and frame.f_globals["__name__"] in _AWAITED:
            _module_executed(frame)
            return
    else:
        hook = _c.get(arg)
    if hook is not None:
        try:
            hook(frame, event, arg)
        except Exception as exc:  # an observer's bug must never reach the program
            _emit("observer_error", _now(), None, hook=getattr(hook, "__name__", "?"), error=repr(exc))


def _thread_first(frame: FrameType, event: str, arg: Any) -> None:
    """A new thread's first event (threading.setprofile): it has begun; then the fast profile."""
    sys.setprofile(_profile)
    _emit("thread_begin", _now(), None, ident=_get_ident())
    _profile(frame, event, arg)


class _Boot:
    """The one ``_bootstrap`` of this process: its frame, its run frame, the run's end."""

    frame: FrameType | None = None
    run: FrameType | None = None
    run_begin: int = 0
    run_end: int = 0
    baseline: BaseException | None = None
    previous: Hook | None = None  # the hook the run's code had before it ran as the target


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
        sys.setprofile(_profile)
        _emit("target_begin", _BOOT.run_begin, None, function=getattr(code, "co_qualname", code.co_name))
        return
    _profile(frame, event, arg)


def _on_run(frame: FrameType, event: str, arg: Any) -> None:
    """A call or return of the target's code: the run frame's return ends the target."""
    if event == "return" and frame is _BOOT.run:
        _BOOT.run_end = _now()
        if _BOOT.previous is None:
            del _PY_HOOKS[frame.f_code]
        else:
            _PY_HOOKS[frame.f_code] = _BOOT.previous
        sys.setprofile(_watch_after_run)
    elif _BOOT.previous is not None:
        _BOOT.previous(frame, event, arg)


def _watch_after_run(frame: FrameType, event: str, arg: Any) -> None:
    """The next event after the run frame returned: ``_bootstrap`` is handling its exception, if any."""
    sys.setprofile(_profile)
    exc = sys.exc_info()[1]
    details: dict[str, Any]
    if exc is None or exc is _BOOT.baseline:
        details = {"how": "returned"}
    elif isinstance(exc, SystemExit):
        details = {"how": "exit", "code": _exit_code_value(exc.code)}
    else:
        details = {"how": "raised", "exception": type(exc).__qualname__}
    _emit("target_end", _BOOT.run_begin, _BOOT.run_end, **details)
    _BOOT.run = None
    _profile(frame, event, arg)


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
        _profile(frame, event, arg)
        return
    if event == "return":
        sys.setprofile(_profile)
        _emit("exit_step", _SHUT.begin, _now(), step="threading._shutdown")
        _SHUT.frame = None
        return
    name = getattr(arg, "__name__", "")
    if event == "c_call" and name in ("acquire", "_shutdown"):
        details = ({"via": "threading._shutdown", **_thread_of_lock(getattr(arg, "__self__", None))}
                   if name == "acquire" else
                   {"via": "_thread._shutdown", "threads": _live_threads(daemon=False)})
        _SHUT.joins[id(arg)] = (_now(), details)
        _emit("thread_join", _SHUT.joins[id(arg)][0], None, **details)
    elif event in ("c_return", "c_exception") and id(arg) in _SHUT.joins:
        begin, details = _SHUT.joins.pop(id(arg))
        _emit("thread_joined", begin, _now(), **details)


def _thread_of_lock(lock: Any) -> dict[str, Any]:
    for thread in list(_active.values()):
        if getattr(thread, "_tstate_lock", None) is lock:
            return _describe_thread(thread)
    return {"name": None, "native_id": None, "daemon": False}


def _describe_thread(thread: Any) -> dict[str, Any]:
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
        _emit("process_begin", _now(), None, ppid=os.getppid(), **_process_facts(_self(frame)))
        sys.setprofile(_watch_bootstrap)
    elif event == "return" and frame is _BOOT.frame:
        _emit("exit_status", _now(), None, exitcode=arg, via="_bootstrap")


def _on_popen_init(frame: FrameType, event: str, arg: Any) -> None:
    popen, proc = _self(frame), frame.f_locals.get("process_obj")
    if event == "call":
        _PENDING[frame] = _now()
        _emit("process_start", _PENDING[frame], None, **_process_facts(proc),
              popen=getattr(type(popen), "method", None))
    else:
        begin = _PENDING.pop(frame, _now())
        _emit("process_started", begin, _now(), **_process_facts(proc),
              popen=getattr(type(popen), "method", None), child=getattr(popen, "pid", None))


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
        return
    main = frame.f_globals.get("_main_thread")
    handle = getattr(main, "_handle", None)
    repeat = handle.is_done() if handle is not None else bool(getattr(main, "_is_stopped", False))
    _SHUT.frame, _SHUT.begin = frame, _now()
    _emit("exit_step_begin", _SHUT.begin, None, step="threading._shutdown",
          caller="interpreter" if frame.f_back is None else frame.f_back.f_code.co_name,
          repeat=repeat, threads=_live_threads(daemon=False))
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


def _on_thread_started(frame: FrameType, event: str, arg: Any) -> None:
    """3.11: ``Thread.start`` returned, having waited for the thread to run (it raised otherwise)."""
    thread = _self(frame)
    started = getattr(thread, "_started", None)
    if event == "return" and started is not None and started.is_set():
        _emit("thread_start", _now(), None, where=_start_site(frame.f_back), **_describe_thread(thread))


def _on_thread_bootstrap(frame: FrameType, event: str, arg: Any) -> None:
    if event == "return":
        _emit("thread_end", _now(), None, as_thread=_self(frame))


_POLLS: dict[FrameType, Any] = {}


def _on_popen_poll(frame: FrameType, event: str, arg: Any) -> None:
    """The parent learns a child's exit status (from waitpid, or from the forkserver's message)."""
    popen = _self(frame)
    if event == "call":
        _POLLS[frame] = getattr(popen, "returncode", None)
    elif _POLLS.pop(frame, 0) is None and arg is not None:
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
    """``os.waitpid(pid, ...)``/``os.waitid(P_PID, pid, ...)``: a child reaped by this call."""
    key = (frame, id(arg))
    if event == "c_call":
        name = arg.__name__
        args = call_arguments(frame, 3)
        pid = args[0] if name == "waitpid" else args[1]
        options = args[1] if name == "waitpid" else args[2]
        _WAITS[key] = (pid, options, _child_state(pid))
    elif key in _WAITS:
        pid, options, (before, status) = _WAITS.pop(key)
        if before in ("running", "zombie") and _child_state(pid)[0] == "gone":
            _emit("child_reaped", _now(), None, child=pid, via=f"os.{arg.__name__}", options=options,
                  status=status)


_WAITS: dict[tuple[FrameType, int], tuple[Any, Any, tuple[str, int | None]]] = {}


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
    argument there would cost every child a ``dis`` of it (about 0.5 ms) and its pages."""
    try:
        caller = sys._getframe(3)  # past this function, the audit table's lambda and _audit
    except ValueError:
        caller = None
    if caller is not None:
        _instructions(caller.f_code)
    _emit("fork", _now(), None)


def _on_thread_start(function: Any) -> None:
    thread = getattr(function, "__self__", None)
    if isinstance(thread, threading.Thread):
        _emit("thread_start", _now(), None, where=_start_site(sys._getframe(1)), **_describe_thread(thread))


_NOT_THE_PROGRAM = (threading.__file__, __file__)


def _start_site(frame: FrameType | None) -> str | None:
    """``file:line`` of the program's call that started a thread: the first frame outside threading."""
    while frame is not None and frame.f_code.co_filename in _NOT_THE_PROGRAM:
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
    "thread_bootstrap": _on_thread_bootstrap,
    "thread_start": _on_thread_started,
}


# Hooks whose module was not imported yet, by module name: hooked when that module's code has run
# (its ``<module>`` frame returns, seen by the profile function). Installing imports nothing: a
# spawned interpreter that never starts a forkserver never pays for importing popen_forkserver.
_AWAITED: dict[str, dict[str, str]] = {}


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
        _hook_code(code, _ROLES[role], function.__globals__)
        if role in ("bootstrap", "thread_bootstrap"):
            _S.run_offsets[code] = _call_offsets(code, "run")


def hook_family(name: str) -> None:
    """Hook one implementation family of FAMILIES (its modules are imported now)."""
    if name not in FAMILIES:
        raise ObserverError(f"unknown observer family {name!r}; known: {', '.join(FAMILIES)}")
    _hook_names(FAMILIES[name], optional=False)
    _S.families = (*_S.families, name)


def _register_stacks() -> str | None:
    """Dump every thread's stack to this process's own file on STACKS_SIGNAL (faulthandler, no
    thread): how ``proclife trace`` sees where a process that does not end is blocked."""
    if _S.stacks is None:
        return None
    import faulthandler

    path = os.path.join(_S.stacks, STACKS_FILE.format(pid=_S.pid))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_TRUNC, 0o644)
    high = _fcntl_dup_high(fd)
    if high != fd:
        os.close(fd)
    if _S.stacks_fd >= 0:  # the parent's file, inherited by fork
        os.close(_S.stacks_fd)
    _S.stacks_fd = high
    faulthandler.register(STACKS_SIGNAL, file=high, all_threads=True, chain=False)
    return path


def _after_fork_in_child() -> None:
    parent, _S.pid = _S.pid, os.getpid()
    _BOOT.frame = _BOOT.run = None
    _SHUT.frame = None
    stacks = _register_stacks()
    _emit("forked", _now(), None, ppid=parent, **({"stacks": _stacks_facts(stacks)} if stacks else {}))


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
    every thread's stack to ``stacks-PID.txt`` there (each forked child its own file); with
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
    _hook_names(THREADING, optional=False)
    for family in families:
        hook_family(family)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    sys.addaudithook(_audit)
    _S.installed = True
    dispositions = _note_dispositions(changed_only=False)
    _emit("observer_installed", _now(), None, schema=SCHEMA, ppid=os.getppid(), python=sys.version.split()[0],
          argv=sys.argv[:4], families=list(_S.families), unhooked=_S.unhooked, dispositions=dispositions,
          threads=_live_threads(), **({"stacks": _stacks_facts(stacks_file)} if stacks_file else {}))
    threading.setprofile(_thread_first)
    sys.setprofile(_profile)


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
