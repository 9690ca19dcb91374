"""A recorded trace decided against the model (``proclife/trace/decide.py``).

The example programs are traced once under fork and each trace is accepted, with exactly the
facts the model does not speak of counted outside it; traces edited to break a rule are rejected
at that fact, naming the rules possible there; a run where the model branches is accepted with
its set of states; a program of 200 processes and 400 threads (built by hand) is decided in time
order without search.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_trace import PROGRAMS, cli, trace

from proclife.model.core.extend import load
from proclife.model.core.lives import REAPED, ZOMBIE
from proclife.model.core.system import System
from proclife.model.core.traits import Traits
from proclife.trace.decide import decide, search, setting
from proclife.trace.schema import SCHEMA_FILE
from proclife.trace.steps import translate

Doc = dict[str, Any]
# What each example's trace leaves outside the model: Thread.join (the model has no join of a
# thread: a thread's end is its own step), Pool's and ProcessPoolExecutor's helper threads joined so.
ACCEPTED = {
    "clean": {},
    "daemon_child_killed": {},
    "never_joined_child": {},
    "nondaemon_thread_holds_exit": {},
    "os_exit_skips_joins": {},
    "late_child_orphaned": {"thread_join": 1, "thread_joined": 1},
    "pool_with": {"thread_join": 3, "thread_joined": 3},
    "process_pool_executor": {"thread_join": 2, "thread_joined": 2},
}


# Facts outside the model a run may add, by timing: Pool's finalizer terminates its workers, and a
# worker that has already finished its exit sequence takes the SIGTERM during interpreter finalization.
LATE_SIGNAL = "exit status of a signal that came after the exit sequence (interpreter finalization)"
MAY_ALSO = {"pool_with": {LATE_SIGNAL}, "process_pool_executor": {LATE_SIGNAL}}

Recorded = Callable[[str], tuple[int, Doc]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """An example traced under fork the first time a test asks for it: (proclife trace's exit status, the trace)."""
    done: dict[str, tuple[int, Doc]] = {}

    def get(name: str) -> tuple[int, Doc]:
        if name not in done:
            kill_after = 1.0 if name == "queue_join_deadlock" else None
            result, doc = trace(tmp_path_factory.mktemp(name), sys.executable, str(PROGRAMS / f"{name}.py"),
                                "fork", kill_after=kill_after)
            assert doc is not None, result.stderr
            done[name] = (result.returncode, doc)
        return done[name]

    return get


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_example_accepted_under_fork(recorded: Recorded, name: str) -> None:
    status, doc = recorded(name)
    decision = doc["decision"]
    assert status == 0
    assert decision["verdict"] == "accepted", decision["rejected"]
    assert decision["matched"] == decision["steps"] > 0
    facts = decision["outside"]["facts"]
    assert {k: v for k, v in facts.items() if k not in MAY_ALSO.get(name, ())} == ACCEPTED[name], facts
    assert (decision["profile"], decision["start_method"], decision["python"]) == \
        ("cpython", "fork", ".".join(doc["python"].split(".")[:2]))
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))


def test_killed_run_is_undecided(recorded: Recorded) -> None:
    status, doc = recorded("queue_join_deadlock")
    decision = doc["decision"]
    assert status == 3
    assert decision["verdict"] == "undecided" and decision["rejected"] is None
    assert decision["reason"].startswith("the trace is incomplete: pid ")
    # The Queue's finalizer joining its feeder thread in the child's exit function: the model's
    # run_finalizers (a check that the child's children joins are over), not a fact outside it.
    assert "thread_join" not in decision["outside"]["facts"]


def _event(doc: Doc, kind: str, pid: int | None = None, **details: Any) -> dict[str, Any]:
    return next(e for e in doc["events"] if e["kind"] == kind and (pid is None or e["pid"] == pid)
                and all(e["details"].get(k) == v for k, v in details.items()))


def _child(doc: Doc) -> int:
    return int(next(p["pid"] for p in doc["processes"] if p["role"] == "child"))


def _rejected(doc: Doc) -> dict[str, Any]:
    decision = decide(doc).as_json()
    assert decision["verdict"] == "rejected", decision
    rejected: dict[str, Any] = decision["rejected"]
    sources = {rule.id: rule.source.ref for rule in load().spec.rules}
    assert all(rule["source"] == sources[rule["id"]] for rule in rejected["rules"])
    return rejected


def test_exit_code_contradicting_the_target_is_rejected(recorded: Recorded) -> None:
    doc = copy.deepcopy(recorded("clean")[1])
    _event(doc, "target_end", _child(doc))["details"]["how"] = "raised"  # yet it ended with 0
    rejected = _rejected(doc)
    assert (rejected["pid"], rejected["model_pid"]) == (_child(doc), 1)
    assert rejected["check"] == "P1 ended with exit code 0"
    # from 3.13 a child's exit function runs from atexit: the rule of that version (the model's trait)
    late = Traits.of("fork", sys.version_info[:2]).children_exit_like_main  # type: ignore[arg-type]
    raise_rule = "process.target_raise_child" + ("_atexit" if late else "")
    assert raise_rule in {rule["id"] for rule in rejected["rules"]}
    assert any("exitcode=1" in line for state in rejected["states"] for line in state)
    assert [step["event"] for step in rejected["path"]][-1] == "target_raise"


HELD_UNTIL_STARTED = """
import multiprocessing as mp, os, sys
def work(r):
    os.read(r, 1)  # held until the parent's start() has returned: the child is running then
if __name__ == '__main__':
    r, w = os.pipe()
    child = mp.get_context('fork').Process(target=work, args=(r,), name='Worker')
    child.start()
    os.write(w, b'x')
    child.join()
    sys.exit(child.exitcode)
"""


def test_join_returning_before_the_childs_end_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "held_until_started.py").write_text(HELD_UNTIL_STARTED)
    result, recorded_doc = trace(tmp_path / "run", sys.executable, str(tmp_path / "held_until_started.py"))
    assert result.returncode == 0 and recorded_doc is not None, result.stderr
    doc = copy.deepcopy(recorded_doc)
    child = _child(doc)
    early = max(_event(doc, "target_begin", child)["begin"], _event(doc, "process_started", child=child)["end"]) + 1
    assert early < _event(doc, "target_end", child)["end"]  # the child is running then
    join, joined = _event(doc, "child_join", child=child), _event(doc, "child_joined", child=child)
    join["begin"] = join["end"] = joined["begin"] = early
    joined["end"] = early + 1
    rejected = _rejected(doc)
    assert rejected["step"] == {"event": "join", "pid": 1}
    (rule,) = [r for r in rejected["rules"] if r["id"] == "handle.join_reaps"]
    assert rule["guards"] == {"proc_terminated": False}
    assert [s["event"] for s in rejected["path"]] == ["create_child", "start"]


def test_daemonic_child_joined_without_sigterm_is_rejected(recorded: Recorded) -> None:
    """The daemonic child, still running when the main program's exit function began joining its
    children, returns by itself and is joined with 0: the exit function had sent it SIGTERM first."""
    doc = copy.deepcopy(recorded("daemon_child_killed")[1])
    child = _child(doc)
    doc["events"] = [e for e in doc["events"] if e["kind"] not in ("terminate", "signal_sent", "child_status",
                                                                   "child_joined", "child_reaped")]
    exit_function = _event(doc, "exit_step", step="util._exit_function")
    t = exit_function["begin"] + 10
    begun = _event(doc, "target_begin", child)
    doc["events"] += [
        {**begun, "pid": exit_function["pid"], "kind": "child_joined", "begin": t, "end": t + 5,
         "details": {"child": child, "timeout": None, "via": "ForkProcess.join", "returncode": 0}},
        {**begun, "kind": "target_end", "end": t + 1, "details": {"how": "returned"}},
        {**begun, "kind": "exit_status", "begin": t + 2, "details": {"exitcode": 0, "via": "_bootstrap"}}]
    proc = next(p for p in doc["processes"] if p["pid"] == child)
    proc.update(ended="exit", exit_status=0, last_event=t + 2)
    rejected = _rejected(doc)
    assert rejected["fact"] == "target returned" and rejected["step"] == {"event": "target_return", "pid": 1}
    assert {"process.main_terminates_daemons", "process.sigterm_default"} <= {r["id"] for r in rejected["rules"]}
    assert all(any("exitcode=-15" in line for line in state) for state in rejected["states"])


def test_thread_ending_after_the_shutdown_returned_is_rejected(recorded: Recorded,
                                                                tmp_path: Path) -> None:
    doc = copy.deepcopy(recorded("nondaemon_thread_holds_exit")[1])
    (writer,) = doc["threads"]
    writer["ended"] = _event(doc, "exit_step", step="threading._shutdown")["end"] + 1
    rejected = _rejected(doc)
    assert rejected["check"] == "P0's threading._shutdown returned"
    (rule,) = rejected["rules"]  # the child's rules for the same phase are never the main program's
    assert (rule["id"], rule["from"], rule["guards"]) == \
        ("process.main_joins_threads", "exiting.join_threads", {"is_main": True, "threads_done": False})
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    again = cli("trace", "--check", str(edited))
    assert again.exit_code == 1, again.stderr
    assert "decision: rejected" in again.stderr and "possible: process.main_joins_threads (guard threads_done " \
        "false)" in again.stderr


# --- traces built by hand ------------------------------------------------------------------


class Built:
    """A trace document written fact by fact (what the observer and the tracer would record)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.procs: dict[int, dict[str, Any]] = {}
        self.threads: list[dict[str, Any]] = []

    def event(self, pid: int, kind: str, begin: int, end: int | None = None, thread: str = "MainThread",
              **details: Any) -> None:
        self.events.append({"pid": pid, "tid": pid if thread == "MainThread" else hash(thread) % 10**6,
                            "thread": thread, "thread_daemon": False, "kind": kind, "begin": begin, "end": end,
                            "details": details})

    def process(self, pid: int, parent: int | None, status: int, ended: str = "exit") -> None:
        own = [e for e in self.events if e["pid"] == pid]
        times = [e["end"] if e["end"] is not None else e["begin"] for e in own]
        self.procs[pid] = {"pid": pid, "ppid": parent, "role": "main" if parent is None else "child",
                           "started_by": parent, "name": None if parent is None else f"P-{pid}",
                           "class": None if parent is None else "ForkProcess",
                           "start_method": None if parent is None else "fork", "daemon": False,
                           "first_event": min(times), "last_event": max(times), "ended": ended,
                           "exit_status": status, "reaped_by": parent or "tracer", "adopted_by": None}

    def child(self, parent: int, pid: int, t: int, threads: int = 0, runs: int = 100, returns: bool = True) -> None:
        """``parent`` creates and starts ``pid`` at ``t``; it starts ``threads`` threads and returns ``runs``
        later (unless not ``returns``: something kills it first)."""
        name = f"P-{pid}"
        self.event(parent, "process_created", t, name=name, daemon=False, daemon_given=False)
        self.event(parent, "process_start", t + 1, name=name, daemon=False)
        self.event(parent, "process_started", t + 1, t + 3, name=name, daemon=False, child=pid)
        self.event(pid, "process_begin", t + 2, ppid=parent)
        for i in range(threads):
            began = t + 4 + i
            self.threads.append({"pid": pid, "native_id": pid * 10 + i, "name": f"T{i}", "daemon": False,
                                 "started": began, "started_by": "MainThread", "where": None, "began": began,
                                 "ended": began + runs // 2})
        self.event(pid, "target_begin", t + 3)
        if not returns:
            return
        end = t + runs
        self.event(pid, "target_end", t + 4, end, how="returned")
        for j, step in enumerate(("util._exit_function", "threading._shutdown")):
            self.event(pid, "exit_step_begin", end + 1 + 2 * j, step=step, repeat=False)
            self.event(pid, "exit_step", end + 1 + 2 * j, end + 2 + 2 * j, step=step)
        self.event(pid, "exit_status", end + 6, exitcode=0)

    def main_exit(self, t: int, joins: dict[int, tuple[int, int]]) -> None:
        """The main program returns at ``t``; its exit function joins each child (pid: (status, when it ended))."""
        self.event(0, "exit_step_begin", t, step="threading._shutdown", caller="interpreter", repeat=False)
        self.event(0, "exit_step", t, t + 1, step="threading._shutdown")
        self.event(0, "exit_step_begin", t + 2, step="util._exit_function", caller="interpreter", repeat=False)
        end = t + 3
        for pid, (status, ended) in joins.items():
            end = max(end, ended + 10)
            self.event(0, "child_joined", t + 3, end, child=pid, timeout=None, returncode=status)
        self.event(0, "exit_step", t + 2, end + 1, step="util._exit_function")

    def doc(self, status: int = 0) -> Doc:
        self.events.sort(key=lambda e: e["end"] if e["end"] is not None else e["begin"])
        return {"schema": "proclife.trace/1", "command": ["python", "built.py"], "python": "3.11.7",
                "started_at": "2026-01-01T00:00:00.000+00:00", "clock": "built", "started": 0,
                "ended": max(e["begin"] for e in self.events) + 10,
                "program": {"pid": 0, "exit_status": status, "killed": False, "kill_after": None, "incomplete": None},
                "tracer_pid": 1, "processes": list(self.procs.values()), "threads": self.threads,
                "events": self.events, "findings": []}


def _main_with_children(statuses: dict[int, int], ends: dict[int, int], main_returns: int) -> Doc:
    """The main program starts children 1, 2, ... that end at ``ends``; it returns at ``main_returns``
    and its exit function joins them."""
    built = Built()
    built.event(0, "observer_installed", 0, python="3.11.7", ppid=None)
    for pid in statuses:
        built.child(0, pid, 10 * pid, runs=ends[pid] - 10 * pid)
    built.main_exit(main_returns, {pid: (statuses[pid], ends[pid] + 6) for pid in sorted(statuses, key=ends.get)})
    for pid, status in statuses.items():
        built.process(pid, 0, status)
    built.process(0, None, 0)
    return built.doc()


def test_nondeterministic_exit_joins_are_a_set_of_states() -> None:
    """The main program's exit function joins its children in any order (a set): it begins while
    both run, so once child 1 has ended it is either joining child 2 with child 1 still awaited, or
    has joined child 1: both states are held until child 2's end joins them again. Had child 1
    ended before the exit began, the exit function's poll would have collected it: never awaited."""
    def widest(main_returns: int) -> frozenset[System]:
        doc = _main_with_children({1: 0, 2: 0}, {1: 500, 2: 2000}, main_returns)
        chosen = setting(doc)
        found = search(chosen.engine, translate(doc, chosen.engine))
        assert found.verdict == "accepted" and found.held == len(found.widest) > 1
        return found.widest

    both = widest(300)
    assert any(s.procs[1].awaited and s.procs[2].joining and s.procs[1].life == ZOMBIE for s in both)
    assert any(not s.procs[1].awaited and s.procs[1].life == REAPED for s in both)
    assert not any(s.procs[1].awaited for s in widest(1000))
    contradicted = decide(_main_with_children({1: 0, 2: -15}, {1: 500, 2: 2000}, main_returns=300)).as_json()
    assert contradicted["verdict"] == "rejected"
    assert contradicted["rejected"]["check"] == "P2 ended with exit code -15"


def test_two_hundred_processes_and_four_hundred_threads() -> None:
    """Children running at once (their facts interleave in time), each with two threads, joined at
    exit: time order leaves nothing to branch on, and each step moves only the processes it
    concerns (about 2 s on a loaded machine)."""
    count = 200
    built = Built()
    built.event(0, "observer_installed", 0, python="3.11.7", ppid=None)
    for pid in range(1, count + 1):
        built.child(0, pid, 10 * pid, threads=2, runs=5000)
    built.main_exit(10 * count + 6000, {pid: (0, 10 * pid + 5006) for pid in range(1, count + 1)})
    for pid in range(1, count + 1):
        built.process(pid, 0, 0)
    built.process(0, None, 0)
    began = time.perf_counter()
    decision = decide(built.doc()).as_json()
    seconds = time.perf_counter() - began
    assert decision["verdict"] == "accepted", decision["rejected"]
    assert decision["outside"]["count"] == 0
    assert decision["matched"] == decision["steps"] == count * 14 + 4  # 14 per child, 4 of the main program
    assert decision["searched"] == decision["steps"] + 1  # time order leaves nothing to branch on
    assert seconds < 30


def test_exits_at_once_do_not_multiply_states() -> None:
    """Thirty children whose exit sequences overlap (one ends every nanosecond, each exit takes six):
    the states of one child's exit are not multiplied by those of the others."""
    built = Built()
    built.event(0, "observer_installed", 0, python="3.11.7", ppid=None)
    for pid in range(1, 31):
        built.child(0, pid, 10 * pid, runs=5000 - 9 * pid)
    built.main_exit(9000, {pid: (0, 5000 + pid) for pid in range(1, 31)})
    for pid in range(1, 31):
        built.process(pid, 0, 0)
    built.process(0, None, 0)
    decision = decide(built.doc()).as_json()
    assert decision["verdict"] == "accepted", decision["rejected"]
    assert decision["states_held"] <= 8


def _signalled_child(ignored: bool, status: int) -> Doc:
    """The main program sends SIGTERM (os.kill) to its child at 500 and joins it; the child, which
    ignores SIGTERM if ``ignored``, returns at 1010."""
    built = Built()
    built.event(0, "observer_installed", 0, python="3.11.7", ppid=None)
    built.child(0, 1, 10, runs=1000, returns=status >= 0)
    if ignored:
        built.event(1, "signal_disposition", 13, signal="SIGTERM", disposition="ignore")
    built.event(0, "signal_sent", 500, target=1, signal="SIGTERM")
    built.event(0, "child_join", 600, child=1, timeout=None)
    built.event(0, "child_joined", 600, 1030, child=1, timeout=None, returncode=status)
    built.main_exit(2000, {})
    built.process(1, 0, status, ended="exit" if status >= 0 else "signal")
    built.process(0, None, 0)
    return built.doc()


def test_signals_between_processes_are_steps() -> None:
    """An os.kill between traced processes is the model's signal event; a SIGTERM ignored is
    install_sigterm('ignore'), so the child lives on to return."""
    ignored = decide(_signalled_child(ignored=True, status=0)).as_json()
    assert ignored["verdict"] == "accepted", ignored["rejected"]
    killed = decide(_signalled_child(ignored=False, status=-15)).as_json()
    assert killed["verdict"] == "accepted", killed["rejected"]
    survived = decide(_signalled_child(ignored=False, status=0)).as_json()
    assert survived["verdict"] == "rejected"
    rejected = survived["rejected"]
    assert rejected["step"] == {"event": "target_return", "pid": 1}
    assert {"event": "sigterm", "pid": 1} in rejected["path"]
    assert all(any("P1(parent P0): terminated" in line and "exitcode=-15" in line for line in state)
               for state in rejected["states"])


DAEMONS_JOINED = '''
import sys
import time

sys.path.insert(0, sys.argv[1])
from broken_impls import DAEMONS_JOINED  # noqa: E402


def work(started):
    started.send("working")
    time.sleep(1.0)  # sleep-ok: the child's work, still going when the main program's exit begins


if __name__ == "__main__":
    reader, writer = DAEMONS_JOINED.Pipe(duplex=False)
    DAEMONS_JOINED.Process(target=work, args=(writer,), daemon=True).start()
    if not reader.poll(60):
        raise SystemExit("the child did not start within 60 s")
    reader.recv()
'''


def test_a_real_run_the_model_does_not_allow_is_rejected(tmp_path: Path) -> None:
    """examples/broken_impls.py's DAEMONS_JOINED: the main program's exit joins its daemonic child
    instead of sending it SIGTERM, so the child's work ends by itself: exit status 1."""
    program = tmp_path / "daemons_joined.py"
    program.write_text(DAEMONS_JOINED)
    result, doc = trace(tmp_path / "run", sys.executable, str(program), str(PROGRAMS.parent))
    assert doc is not None, result.stderr
    assert result.returncode == 1, result.stderr
    rejected = doc["decision"]["rejected"]
    assert (rejected["model_pid"], rejected["fact"]) == (1, "target returned")
    assert {"process.main_terminates_daemons", "process.sigterm_default"} <= {r["id"] for r in rejected["rules"]}
    assert "decision: rejected" in result.stderr and "no rule allows it" in result.stderr
