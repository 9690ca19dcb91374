"""The in-process observer (proclife.runtime.observer) seen through real process trees.

Each program runs in a fresh interpreter with the observer loaded the way `proclife trace` will
load it: a ``sitecustomize`` on PYTHONPATH calling ``install_from_environment()``, the sink named
by PROCLIFE_OBSERVER, so that spawned and forkserver interpreters observe themselves too.
Programs synchronise on pipes and joins, every wait bounded; after each run every observed
process is awaited (bounded) and the run's session is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest

from proclife.runtime import observer
from proclife.runtime.observer import Event, read_events
from proclife.trace.loader import environment, prepare_site

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("fork", "spawn", "forkserver")
BOUND = 60.0
PY313 = sys.version_info >= (3, 13)


def run_observed(tmp_path: Path, program: str, *args: str, observe: bool = True) -> tuple[str, list[Event]]:
    """Run ``program`` observed; its stdout and every event its process tree wrote."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "from proclife.runtime.observer import install_from_environment\ninstall_from_environment()\n")
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(program))
    sink = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCLIFE_OBSERVER")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    if observe:
        env["PROCLIFE_OBSERVER"] = str(sink)
    proc = subprocess.Popen([sys.executable, str(script), *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BOUND)
    finally:
        _end_session(proc.pid)
    assert proc.returncode == 0, f"program exited {proc.returncode}:\n{err[-3000:]}"
    events = read_events(sink) if observe else []
    _await_tree(events)
    return out, events


def _end_session(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _await_tree(events: list[Event]) -> None:
    """Every process that reported is gone within the bound (the forkserver and the resource
    tracker end on their own once the main program is gone); none is left behind."""
    procs = []
    for pid in {e.pid for e in events}:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=BOUND)
    for proc in alive:
        proc.kill()
    assert not alive, f"processes left alive after the run: {[p.pid for p in alive]}"


def of(events: Iterable[Event], kind: str, pid: int | None = None, **match: Any) -> list[Event]:
    return [e for e in events if e.kind == kind and (pid is None or e.pid == pid)
            and all(e.details.get(k) == v for k, v in match.items())]


def one(events: Iterable[Event], kind: str, pid: int | None = None, **match: Any) -> Event:
    found = of(events, kind, pid, **match)
    assert len(found) == 1, f"expected one {kind} {match} in pid {pid}, got {found}"
    return found[0]


def children_by_name(events: list[Event]) -> dict[str, int]:
    return {e.details["name"]: e.details["child"] for e in of(events, "process_started")}


def joins_thread(event: Event, name: str) -> bool:
    """A thread join of ``name``: one tstate lock each on 3.11, all at once in C on 3.13."""
    return event.details.get("name") == name or name in event.details.get("threads", ())


def exit_step(events: list[Event], pid: int, step: str) -> tuple[Event, Event]:
    """The first (not repeated) run of an exit step: its begin and end events."""
    begin = [e for e in of(events, "exit_step_begin", pid, step=step) if not e.details["repeat"]]
    assert begin, f"no {step} in pid {pid}"
    end = [e for e in of(events, "exit_step", pid, step=step) if e.begin == begin[0].begin]
    assert end, f"{step} in pid {pid} never returned"
    return begin[0], end[0]


EXIT_SEQUENCE = """
import multiprocessing as mp
import sys
import threading
from multiprocessing import util


def stay(writer, idle, ready):
    # The daemonic child: holds the pipe's write end until its parent's exit SIGTERMs it.
    ready.send("up")
    idle.poll(60)


def until_daemon_gone(reader, writer):
    # The non-daemon child: returns when the daemonic child, the pipe's last writer, is gone.
    writer.close()
    reader.poll(60)


def after_main_thread(go):
    # The non-daemon thread: ends once its process's main thread is in threading._shutdown
    # (which releases the main thread's lock) and the main program has begun its own exit.
    threading.main_thread().join(60)
    go.poll(60)


KEEP = []


def program(method, go):
    ctx = mp.get_context(method)
    reader, writer = ctx.Pipe(duplex=False)
    idle, keep = ctx.Pipe(duplex=False)
    KEEP.append(keep)  # the idle pipe's writer lives as long as P: the daemonic child waits for SIGTERM
    ready, ready_writer = ctx.Pipe(duplex=False)
    ctx.Process(target=stay, args=(writer, idle, ready_writer), daemon=True, name="D").start()
    assert ready.poll(60) and ready.recv() == "up"  # D is in its target (not starting up) when SIGTERMed
    ctx.Process(target=until_daemon_gone, args=(reader, writer), daemon=False, name="N").start()
    writer.close()
    threading.Thread(target=after_main_thread, args=(go,), daemon=False, name="T").start()


if __name__ == "__main__":
    method = sys.argv[1]
    ctx = mp.get_context(method)
    go, go_writer = ctx.Pipe(duplex=False)
    ctx.Process(target=program, args=(method, go), name="P").start()
    util.Finalize(None, go_writer.send, args=("go",), exitpriority=10)
    threading.Thread(target=threading.main_thread().join, args=(60,), daemon=False, name="Tm").start()
"""


@pytest.mark.parametrize("method", METHODS)
def test_the_exit_sequences_are_seen_from_inside(tmp_path: Path, method: str) -> None:
    _, events = run_observed(tmp_path, EXIT_SEQUENCE, method)
    main = one(events, "observer_installed", ppid=os.getpid()).pid
    names = children_by_name(events)
    p, d, n = names["P"], names["D"], names["N"]
    assert one(events, "process_begin", p).details["daemon"] is False
    assert one(events, "process_begin", d).details["daemon"] is True
    assert one(events, "process_started", main, name="P").details["method"] == method

    # P, a child: its target returns, then (3.11) multiprocessing's exit function (SIGTERM to
    # the daemonic child, then a join of each child), then threading._shutdown joins T; on
    # 3.13 _bootstrap runs threading._shutdown and the exit function runs after it, from
    # atexit (docs/python-versions.md).
    target_end = one(events, "target_end", p)
    assert target_end.details == {"how": "returned"}
    mp_begin, mp_end = exit_step(events, p, "util._exit_function")
    th_begin, th_end = exit_step(events, p, "threading._shutdown")
    assert {c["pid"]: c["daemon"] for c in mp_begin.details["children"]} == {d: True, n: False}
    first, second = ((th_begin, th_end), (mp_begin, mp_end)) if PY313 else ((mp_begin, mp_end), (th_begin, th_end))
    assert target_end.time < first[0].time < first[1].time < second[0].time < second[1].time
    sigterm = one(events, "signal_sent", p, target=d)
    assert sigterm.details["signal"] == "SIGTERM"
    assert one(events, "terminate", p, child=d).time < sigterm.time
    statuses = {e.details["child"]: e for e in of(events, "child_status", p)}
    assert statuses[d].details["returncode"] == -15 and statuses[n].details["returncode"] == 0
    for status in (statuses[d], statuses[n]):
        assert sigterm.time < status.time < mp_end.time
    # A child that ended before the second active_children() is reaped by its _cleanup, not
    # joined (util._exit_function): a join that happened returned that child's status.
    for joined in of(events, "child_joined", p):
        assert mp_begin.time < joined.begin and joined.end is not None and joined.end < mp_end.time
        assert joined.details["returncode"] == statuses[joined.details["child"]].details["returncode"]
    assert "T" in th_begin.details["threads"]
    t_join = [e for e in of(events, "thread_join", p) if joins_thread(e, "T")]
    t_joined = [e for e in of(events, "thread_joined", p) if joins_thread(e, "T")]
    assert len(t_join) == 1 and len(t_joined) == 1
    assert th_begin.time < t_join[0].time < t_joined[0].time < th_end.time
    assert one(events, "thread_end", p).thread == "T"
    assert one(events, "exit_status", p).details["exitcode"] == 0
    assert one(events, "exit_status", n).details["exitcode"] == 0
    assert one(events, "target_end", n).details == {"how": "returned"}
    assert not of(events, "target_end", d)  # killed in its target

    # The main program: threads first (Tm), then multiprocessing's atexit handler joins P.
    th_begin, th_end = exit_step(events, main, "threading._shutdown")
    mp_begin, mp_end = exit_step(events, main, "util._exit_function")
    assert th_begin.details["caller"] == mp_begin.details["caller"] == "interpreter"
    assert th_begin.time < th_end.time < mp_begin.time < mp_end.time
    assert [e for e in of(events, "thread_joined", main) if joins_thread(e, "Tm")]
    assert mp_begin.time < one(events, "child_status", main, child=p).time < mp_end.time
    assert one(events, "child_status", main, child=p).details["returncode"] == 0
    assert not of(events, "observer_error")


EXIT_STATUSES = """
import multiprocessing as mp
import os
import sys


def target(how):
    if how == "raise":
        raise ValueError("on purpose")
    if how == "exit3":
        sys.exit(3)
    if how == "text":
        sys.exit("text")
    if how == "os_exit":
        os._exit(7)


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    for how in ("return", "raise", "exit3", "text", "os_exit"):
        child = ctx.Process(target=target, args=(how,), name=how)
        child.start()
        child.join(60)
        print(how, child.exitcode)
"""


@pytest.mark.parametrize("method", METHODS)
def test_exit_statuses_are_recorded_as_the_process_reports_them(tmp_path: Path, method: str) -> None:
    out, events = run_observed(tmp_path, EXIT_STATUSES, method)
    seen = dict(line.split() for line in out.splitlines())
    assert seen == {"return": "0", "raise": "1", "exit3": "3", "text": "1", "os_exit": "7"}
    names = children_by_name(events)
    expected = {"return": ({"how": "returned"}, 0), "raise": ({"how": "raised", "exception": "ValueError"}, 1),
                "exit3": ({"how": "exit", "code": 3}, 3), "text": ({"how": "exit", "code": "text"}, 1)}
    for how, (end, code) in expected.items():
        pid = names[how]
        assert one(events, "target_end", pid).details == end, how
        assert one(events, "exit_status", pid).details["exitcode"] == code, how
        assert one(events, "child_status", child=pid).details["returncode"] == code, how
    # os._exit is seen as it is called ("about to"): no target end, no exit sequence.
    pid = names["os_exit"]
    about = one(events, "os_exit", pid)
    assert about.details["code"] == 7 and about.details["where"].endswith("program.py:15")
    assert not of(events, "target_end", pid) and not of(events, "exit_step_begin", pid)
    assert one(events, "child_status", child=pid).details["returncode"] == 7


OVERRIDES = """
import multiprocessing as mp
import sys
import threading

from examples import broken_impls


def fail():
    raise ValueError("swallowed by the overriding run")


def block(ready, idle):
    ready.send("up")
    idle.poll(60)


if __name__ == "__main__":
    # run() overridden (the exception is swallowed): the target's end is the override's return.
    child = broken_impls.RAISE_EXITS_ZERO.Process(target=fail, name="run-override")
    child.start()
    child.join(60)
    # start() overridden: the start is still seen, and so is the second start it swallows.
    child = broken_impls.START_TWICE.Process(target=print, args=("started",), name="start-override")
    child.start()
    child.start()
    child.join(60)
    # terminate() overridden to send SIGINT: the signal actually sent is what is recorded.
    ready, ready_writer = mp.Pipe(duplex=False)
    idle, _keep = mp.Pipe(duplex=False)
    child = broken_impls.TERMINATE_INTERRUPTS.Process(target=block, args=(ready_writer, idle),
                                                      name="terminate-override")
    child.start()
    assert ready.poll(60) and ready.recv() == "up"
    child.terminate()
    child.join(60)
    print(child.exitcode)
"""


def test_subclasses_overriding_run_start_and_terminate_are_still_observed(tmp_path: Path) -> None:
    out, events = run_observed(tmp_path, OVERRIDES)
    assert out.split()[-1] == "1"  # KeyboardInterrupt in the child, the broken rule
    names = children_by_name(events)
    run_child = names["run-override"]
    assert one(events, "target_begin", run_child).details["function"] == "_RaiseExitsZero.run"
    assert one(events, "target_end", run_child).details == {"how": "returned"}
    assert one(events, "exit_status", run_child).details["exitcode"] == 0
    assert one(events, "process_started", name="start-override").details["class"] == "_StartTwiceIsSilent"
    start_child = names["start-override"]
    assert one(events, "target_end", start_child).details == {"how": "returned"}
    term_child = names["terminate-override"]
    sent = one(events, "signal_sent", target=term_child)
    assert sent.details["signal"] == "SIGINT"
    assert not of(events, "terminate", child=term_child)  # the library's Popen.terminate never ran
    assert one(events, "target_begin", term_child)
    # The child's target_end is not asserted: a KeyboardInterrupt raised while the observer's
    # profile function runs removes it from that thread (docs/observer.md, Limits).
    assert one(events, "child_status", child=term_child).details["returncode"] == 1


JOIN_OVERRIDES = """
import multiprocessing as mp
import os
from multiprocessing.context import ForkProcess

from examples.broken_impls import JOIN_LEAVES_ZOMBIE


class Polite(ForkProcess):
    def join(self, timeout=None):  # an override that calls the library's join: one join, reported once
        return super().join(timeout)


if __name__ == "__main__":
    polite = Polite(name="polite")
    polite.start()
    polite.join(60)
    zombie = JOIN_LEAVES_ZOMBIE.Process(name="zombie")
    zombie.start()
    zombie.join()  # no timeout: its waitid blocks (with a timeout it polls, WNOHANG, and may see it running)
    print(polite.exitcode, zombie.exitcode)
    os.waitpid(zombie.pid, 0)
"""


def test_a_subclass_that_overrides_join_is_seen_joining(tmp_path: Path) -> None:
    """Joins are hooked at Process.join and at a subclass's own join: a join that bypasses
    Popen.wait (os.waitid with WNOWAIT) is still one join, and it shows the zombie it left."""
    out, events = run_observed(tmp_path, JOIN_OVERRIDES)
    assert out.split() == ["0", "0"]
    names = children_by_name(events)
    for name, via, kernel in (("polite", "Polite.join", "gone"), ("zombie", "_JoinLeavesZombie.join", "zombie")):
        child = names[name]
        assert one(events, "child_join", child=child).details["via"] == via
        assert one(events, "child_joined", child=child).details["kernel"] == kernel
        assert one(events, "child_joined", child=child).details["returncode"] == 0


THREADS = """
import multiprocessing as mp
import sys
import threading


def report(conn):
    conn.send((threading.active_count(), sorted(t.name for t in threading.enumerate())))


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=report, args=(writer,))
    child.start()
    assert reader.poll(60)
    print(threading.active_count(), sorted(t.name for t in threading.enumerate()), reader.recv())
    child.join(60)
"""


@pytest.mark.parametrize("method", ("fork", "spawn"))
def test_the_observer_adds_no_thread(tmp_path: Path, method: str) -> None:
    bare, _ = run_observed(tmp_path, THREADS, method, observe=False)
    observed, events = run_observed(tmp_path, THREADS, method)
    assert observed == bare
    assert bare.startswith("1 ['MainThread'] (1, ['MainThread'])")
    processes = len(of(events, "observer_installed"))  # spawn: the child and the resource tracker too
    assert processes == 1 if method == "fork" else processes >= 2
    assert not of(events, "thread_begin")


LATE_IMPORTS = """
import importlib
import sys

assert "multiprocessing" not in sys.modules  # the observer installed first: its hooks are awaited
importlib.import_module("multiprocessing.popen_fork")  # no "import" audit event: only the code's exec
import multiprocessing as mp

child = mp.get_context("fork").Process(target=print, args=("child",), name="late")
child.start()
child.join(60)
print(child.exitcode)
"""


def test_the_hooks_of_a_module_imported_after_install_are_armed_when_it_has_run(tmp_path: Path) -> None:
    """The trace's observer installs before ``multiprocessing`` is imported: the modules it hooks
    are awaited, and armed once their code has run, however they were imported."""
    site = prepare_site(tmp_path / "site")
    sink = tmp_path / "events.jsonl"
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(LATE_IMPORTS))
    env = environment(site, sink, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=BOUND, check=False)
    assert done.returncode == 0 and done.stdout.split() == ["child", "0"], done.stderr[-2000:]
    events = read_events(sink)
    kinds = {e.kind for e in events}
    assert {"process_created", "process_start", "process_started", "child_join", "child_joined",
            "process_begin", "target_begin", "target_end"} <= kinds, sorted(kinds)
    assert not of(events, "observer_unhooked") and not of(events, "observer_error")
    assert all(e.get("unhooked") == [] for e in of(events, "observer_installed"))


def test_an_awaited_module_is_known_by_its_source_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``exec`` audit event names a code object: its file says which awaited module runs."""
    monkeypatch.setattr(observer, "_AWAITED", {"multiprocessing.popen_forkserver": {}, "billiard": {}})
    assert observer._awaited_module("/usr/lib/python3.11/multiprocessing/popen_forkserver.py") == \
        "multiprocessing.popen_forkserver"
    assert observer._awaited_module("app.pyz/multiprocessing/popen_forkserver.py") == "multiprocessing.popen_forkserver"
    assert observer._awaited_module("multiprocessing/popen_forkserver.py") == "multiprocessing.popen_forkserver"
    assert observer._awaited_module("/venv/site-packages/billiard/__init__.py") == "billiard"
    for other in ("/usr/lib/python3.11/multiprocessing/popen_fork.py", "/src/my_multiprocessing/popen_forkserver.py",
                  "/venv/site-packages/billiard/process.py", "<frozen os>"):
        assert observer._awaited_module(other) is None, other


SIGKILLED = """
import multiprocessing as mp
import os
import signal
import sys


def work(ready, idle):
    for _ in range(50):
        os.getppid()
    ready.send("working")
    idle.poll(60)


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    ready, ready_writer = ctx.Pipe(duplex=False)
    idle, _keep = ctx.Pipe(duplex=False)
    child = ctx.Process(target=work, args=(ready_writer, idle), name="victim")
    child.start()
    assert ready.poll(60) and ready.recv() == "working"
    os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    print(child.exitcode)
"""


def test_a_sigkilled_process_has_written_every_event_up_to_its_death(tmp_path: Path) -> None:
    out, events = run_observed(tmp_path, SIGKILLED, "spawn")
    assert out.strip() == "-9"
    victim = children_by_name(events)["victim"]
    assert one(events, "target_begin", victim)
    assert not of(events, "target_end", victim) and not of(events, "exit_step_begin", victim)
    assert one(events, "signal_sent", target=victim).details["signal"] == "SIGKILL"
    assert one(events, "child_status", child=victim).details["returncode"] == -9
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"}\n") and len(line) < 4096 for line in lines)


DISPOSITIONS = """
import os
import signal
import threading

got = threading.Event()


def on_term(signum, frame):
    got.set()


signal.signal(signal.SIGTERM, on_term)
os.kill(os.getpid(), signal.SIGTERM)
assert got.wait(60)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
"""


def test_signal_dispositions_and_handlers_are_recorded(tmp_path: Path) -> None:
    _, events = run_observed(tmp_path, DISPOSITIONS)
    installed = one(events, "observer_installed")
    assert installed.details["dispositions"]["SIGTERM"] == "default"
    assert installed.details["dispositions"]["SIGINT"] == "default_int_handler"
    changes = [e.details["disposition"] for e in of(events, "signal_disposition", signal="SIGTERM")]
    assert changes == ["python:on_term", "ignore"]
    sent = one(events, "signal_sent", signal="SIGTERM")
    handled = one(events, "signal_handler", signal="SIGTERM")
    assert handled.details["handler"] == "on_term" and sent.time < handled.time


def test_a_line_never_reaches_pipe_buf(tmp_path: Path) -> None:
    program = "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass', 'y' * 20000], check=True)\n"
    _, events = run_observed(tmp_path, program)
    exec_event = one(events, "exec", via="subprocess.Popen")
    assert exec_event.details["truncated"] is True
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in lines) < 4096


def test_read_events_orders_by_the_time_a_fact_was_known(tmp_path: Path) -> None:
    sink = tmp_path / "sink.jsonl"
    base = {"pid": 1, "tid": 1, "thread": "MainThread", "thread_daemon": False}
    rows = [{**base, "kind": "child_joined", "begin": 10, "end": 50, "child": 2},
            {**base, "pid": 2, "kind": "exit_status", "begin": 30, "end": None, "exitcode": 0}]
    sink.write_text("".join(json.dumps(r) + "\n" for r in rows))
    events = read_events(sink)
    assert [e.kind for e in events] == ["exit_status", "child_joined"]
    assert events[1].details == {"child": 2} and events[1].time == 50
    sink.write_text("not json\n")
    with pytest.raises(ValueError, match=r"sink\.jsonl:1"):
        read_events(sink)


def test_call_arguments_reads_the_simple_arguments_of_a_c_call() -> None:
    seen: list[list[Any]] = []
    limit = 5

    class Holder:
        pid = 0

        def __init__(self) -> None:
            self.pid = 12

    holder = Holder()

    def probe(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is divmod:
            seen.append(observer.call_arguments(frame, 2))

    previous = sys.getprofile()
    sys.setprofile(probe)
    try:
        divmod(holder.pid, limit)
        divmod(7, 2)
        divmod(limit + 1, 2)  # an expression: unknown, never evaluated
    finally:
        sys.setprofile(previous)
    assert seen == [[12, 5], [7, 2], [None, 2]]


def test_an_unknown_family_is_refused_and_no_sink_means_no_install(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(observer.ObserverError, match="multiprocessing, multiprocess, billiard"):
        observer.hook_family("pathos")
    monkeypatch.delenv(observer.ENV_SINK, raising=False)
    assert observer.install_from_environment() is False
    assert not observer.installed() and sys.getprofile() is None
