"""The observer's ways of hooking: ``sys.monitoring`` local events (3.12+) and ``sys.setprofile``
(3.11, or PROCLIFE_OBSERVER_PROFILE=1) with its filter in Python or in C (observer_filter.c), which
must write the same events; and its bytecode reader, which must read what ``dis`` reads.

The programs run in fresh interpreters with the observer loaded by a ``sitecustomize`` (as in
tests/test_observer.py); every wait is bounded and each run's session is killed afterwards.
"""

from __future__ import annotations

import dis
import importlib
import opcode
import os
import subprocess
import sys
import textwrap
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proclife.runtime import observer
from proclife.runtime.observer import Event, read_events
from proclife.runtime.observer_filter import built_filter
from tests.test_observer import BOUND, ROOT, _await_tree, _end_session

MONITORING = sys.version_info >= (3, 12)
READ = ("LOAD_CONST", "LOAD_SMALL_INT", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR",
        "LOAD_FAST_LOAD_FAST", "LOAD_DEREF", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_ATTR", "LOAD_METHOD", "CALL",
        "PRECALL", "PUSH_NULL", "KW_NAMES", "EXTENDED_ARG")


def test_the_opcode_table_is_the_running_interpreters() -> None:
    table = observer._OPCODES.get(sys.version_info[:2])
    if table is None:
        pytest.skip(f"{sys.version_info[:2]} is read with dis")
    names, caches = table
    assert names == {opcode.opmap[n]: n for n in READ if n in opcode.opmap and opcode.opmap[n] < 256}
    entries: Any = opcode._inline_cache_entries  # type: ignore[attr-defined]
    expected = ({opcode.opmap[n]: c for n, c in entries.items() if c and opcode.opmap.get(n, 256) < 256}
                if isinstance(entries, dict) else {op: c for op, c in enumerate(entries) if c})
    assert caches == expected


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


@pytest.mark.parametrize("module", ["threading", "multiprocessing.process", "multiprocessing.popen_fork",
                                    "multiprocessing.spawn", "subprocess", "argparse"])
def test_the_bytecode_is_read_as_dis_reads_it(module: str) -> None:
    path = importlib.import_module(module).__file__
    assert path is not None
    read = set(observer._OPCODES.get(sys.version_info[:2], ({}, {}))[0].values()) or None
    for code in _codes(compile(Path(path).read_text(), path, "exec")):
        mine = observer._decode(code)
        theirs = list(dis.get_instructions(code))
        assert [i.offset for i in mine] == [i.offset for i in theirs], code.co_qualname
        for a, b in zip(mine, theirs, strict=True):
            name = b.opname if read is None or b.opname in read else "OTHER"
            assert a.opname == name, (code.co_qualname, b.offset)
            if name.startswith("LOAD_"):
                assert (a.arg, a.argval) == (b.arg, b.argval), (code.co_qualname, b.offset)
            elif name == "CALL":
                assert a.arg == b.arg, (code.co_qualname, b.offset)
        for attr in ("run", "join"):  # what _call_offsets found with dis
            offsets: set[int] = set()
            armed = False
            for ins, after in zip(theirs, [*theirs[1:], None], strict=True):
                if ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                    armed = ins.argval == attr
                elif ins.opname == "CALL" and armed:
                    offsets.update((ins.offset, (after.offset if after else len(code.co_code)) - 2))
                    armed = False
            assert observer._call_offsets(code, attr) == offsets, code.co_qualname


PROGRAM = """
import multiprocessing as mp
import os
import signal
import sys
import threading


def returns():
    pass


def raises():
    raise ValueError("no")


def exits():
    sys.exit(3)


def exits_now():
    os._exit(7)


def threads():
    def job():
        pass
    workers = [threading.Thread(target=job, name=f"Job-{i}") for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def on_usr1(signum, frame):
    pass


class Joining(mp.get_context("fork").Process):
    def join(self, timeout=None):
        return super().join(timeout)


class Calls:
    def __call__(self):
        pass


class CallableRunFork(mp.get_context("fork").Process):
    run = Calls()  # no function: the target is found as the first Python frame _bootstrap calls


class CallableRunSpawn(mp.get_context("spawn").Process):
    run = Calls()


def callable_run(context):
    return (CallableRunFork if context.get_start_method() == "fork" else CallableRunSpawn)(name="callable_run")


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, on_usr1)
    os.kill(os.getpid(), signal.SIGUSR1)
    method = sys.argv[1]
    context = mp.get_context(method)
    targets = (returns, raises, exits, exits_now, threads, os._exit)
    children = [context.Process(target=t, name=getattr(t, "__name__", "?"), args=(5,) if t is os._exit else ())
                for t in targets]
    if method == "fork":
        children.append(Joining(target=threads, name="joining"))
    children.append(callable_run(context))
    for child in children:
        child.start()
        child.join(60)
    print(" ".join(f"{child.name}={child.exitcode}" for child in children))
"""

# The details that do not name a pid, a thread id, a time or a place in a file.
KEPT = ("how", "code", "exitcode", "step", "via", "name", "function", "signal", "disposition", "returncode",
        "exception", "handler", "daemon", "method", "class", "popen", "repeat", "caller", "timeout")


HOOKS = {"monitoring": "sys.monitoring", "monitoring_c": "sys.monitoring, C filter", "python": "sys.setprofile",
         "c": "sys.setprofile, C filter", "frame": "frame evaluation hook, C filter"}


def _observed(tmp_path: Path, method: str, hooks: str) -> tuple[str, list[Event]]:
    """The program's output and events, observed with ``hooks`` (a key of HOOKS)."""
    folder = tmp_path / hooks
    site = folder / "site"
    site.mkdir(parents=True)
    (site / "sitecustomize.py").write_text(
        "from proclife.runtime.observer import install_from_environment\ninstall_from_environment()\n")
    script = folder / "program.py"
    script.write_text(textwrap.dedent(PROGRAM))
    sink = folder / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCLIFE_OBSERVER")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), PROCLIFE_OBSERVER=str(sink))
    if hooks in ("python", "c"):
        env[observer.ENV_PROFILE] = "1"
    if hooks in ("c", "monitoring_c", "frame"):
        built = built_filter()
        assert built is not None, "the C filter did not build: is gcc installed?"
        env[observer.ENV_FILTER] = str(built)
    proc = subprocess.Popen([sys.executable, str(script), method], env=env, cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BOUND)
    finally:
        _end_session(proc.pid)
    assert proc.returncode == 0, err[-3000:]
    events = read_events(sink)
    _await_tree(events)
    assert {e.details["hooks"] for e in events if e.kind == "observer_installed"} == {HOOKS[hooks]}
    return out, events


def _facts(events: list[Event]) -> Counter[tuple[Any, ...]]:
    """Each event as what it says, its process named (the main program, or its Process name)."""
    names = {e.pid: e.details.get("name") for e in events if e.kind == "process_begin"}
    return Counter((names.get(e.pid, "main"), e.thread, e.kind,
                    tuple((k, repr(e.details[k])) for k in KEPT if k in e.details)) for e in events)


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring is 3.12+")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_monitoring_writes_the_events_setprofile_writes(tmp_path: Path, method: str) -> None:
    _same_events(tmp_path, method, "monitoring", "python")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_c_filter_writes_the_events_the_python_filter_writes(tmp_path: Path, method: str) -> None:
    _same_events(tmp_path, method, "c", "python")


@pytest.mark.skipif(MONITORING, reason="the frame evaluation hook stands for sys.monitoring before 3.12")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_frame_hook_writes_the_events_setprofile_writes(tmp_path: Path, method: str) -> None:
    _same_events(tmp_path, method, "frame", "python")


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring is 3.12+")
def test_under_monitoring_the_c_audit_filter_writes_the_events_the_python_hook_writes(tmp_path: Path) -> None:
    _same_events(tmp_path, "fork", "monitoring_c", "monitoring")


def _same_events(tmp_path: Path, method: str, mine_hooks: str, their_hooks: str) -> None:
    out, events = _observed(tmp_path, method, mine_hooks)
    expected = ("returns=0 raises=1 exits=3 exits_now=7 threads=0 _exit=5" + (" joining=0" if method == "fork" else "")
                + " callable_run=0")
    assert out.split("\n")[0] == expected
    out_theirs, events_theirs = _observed(tmp_path, method, their_hooks)
    assert out_theirs == out
    assert not [e for e in events + events_theirs if e.kind in ("observer_error", "observer_unhooked")]
    mine, theirs = _facts(events), _facts(events_theirs)
    assert mine == theirs, (f"{mine_hooks} only: {sorted((mine - theirs).elements())}\n"
                            f"{their_hooks} only: {sorted((theirs - mine).elements())}")
    # and what they are: the signal handler, the threads, the os._exit calls (the target's own is
    # called by ``self._target(*args)``, whose argument is not read: None)
    kinds = Counter(e.kind for e in events)
    assert kinds["signal_handler"] == 1
    callable_pid = next(e.pid for e in events if e.kind == "process_begin" and e.details["name"] == "callable_run")
    ends = [(e.kind, e.details.get("function") or e.details.get("how")) for e in events
            if e.pid == callable_pid and e.kind in ("target_begin", "target_end")]
    assert ends == [("target_begin", "Calls.__call__"), ("target_end", "returned")]
    exits = Counter(e.details["code"] for e in events if e.kind == "os_exit")
    assert exits[7] == exits[None] == 1
    assert kinds["thread_begin"] == kinds["thread_end"] == (4 if method == "fork" else 2)


CPROFILE = """
import cProfile
import sys

profiler = cProfile.Profile()
profiler.enable()
sum(range(10))
profiler.disable()
tool = sys.monitoring.get_tool(sys.monitoring.PROFILER_ID)
print(sys.getprofile() is None, tool)
"""


@pytest.mark.skipif(not MONITORING, reason="sys.monitoring is 3.12+")
def test_under_monitoring_the_program_keeps_its_profiler(tmp_path: Path) -> None:
    """cProfile takes sys.monitoring's PROFILER_ID (3.12+): the observer leaves it free, and sets
    no profile function."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "from proclife.runtime.observer import install_from_environment\ninstall_from_environment()\n")
    (tmp_path / "program.py").write_text(CPROFILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCLIFE_OBSERVER")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), PROCLIFE_OBSERVER=str(tmp_path / "events.jsonl"))
    done = subprocess.run([sys.executable, str(tmp_path / "program.py")], env=env, capture_output=True, text=True,
                          timeout=BOUND, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "None"]
    kinds = [e.kind for e in read_events(tmp_path / "events.jsonl")]
    assert kinds[0] == "observer_installed" and "observer_error" not in kinds
