"""``proclife trace``: the example programs give exactly their expected findings, hangs are killed
leaving no process, the command line and the trace file are checked, the program runs unchanged.

Each trace runs ``python -m proclife trace`` in its own process (the tracer makes itself a
subreaper, which must not happen to the test runner), bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
from click.testing import CliRunner, Result

from proclife.cli import main
from proclife.model.core.extend import load
from proclife.trace import findings as findings_module
from proclife.trace.cmdline import check_command
from proclife.trace.errors import TraceUsageError
from proclife.trace.schema import SCHEMA_FILE

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "examples" / "programs"
NAMES = sorted(p.name.removesuffix(".expected.json") for p in PROGRAMS.glob("*.expected.json"))
HANGING = ("queue_join_deadlock", "thread_keeps_main_alive")
LARGE = ("many_processes",)  # 200 processes: bench/bench_trace.py traces it and checks it clean at each run
BOUND = 60.0


def trace(tmp_path: Path, *program: str, kill_after: float | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Run ``proclife trace -- PROGRAM...``; its result and the trace it wrote (None if none)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, json_file = tmp_path / "out", tmp_path / "trace.json"
    args = [sys.executable, "-m", "proclife", "trace", "--out", str(out), "--json", str(json_file)]
    if kill_after is not None:
        args += ["--kill-after", str(kill_after)]
    result = subprocess.run([*args, "--", *program], capture_output=True, text=True, timeout=BOUND,
                            env=env, cwd=cwd or tmp_path)
    doc = json.loads(json_file.read_text()) if json_file.exists() else None
    if doc is not None:
        assert_none_left(doc)
    return result, doc


def assert_none_left(doc: dict[str, Any]) -> None:
    """Every process of the trace is gone (a pid now naming a younger process is not one of them)."""
    started = datetime.fromisoformat(doc["started_at"]).timestamp()
    left = []
    for proc in doc["processes"]:
        try:
            if psutil.Process(proc["pid"]).create_time() <= started + 1:
                left.append(proc["pid"])
        except psutil.NoSuchProcess:
            continue
    assert not left, f"processes of the traced run left behind: {left}"


def expected(name: str, python: tuple[int, int] = sys.version_info[:2]) -> dict[str, Any]:
    """The program's expectations on ``python``: ``from_python`` overrides them from a version on
    (the latest such version not after ``python``), as the model's rules differ by version."""
    loaded: dict[str, Any] = json.loads((PROGRAMS / f"{name}.expected.json").read_text())
    since = sorted((tuple(map(int, v.split("."))), v) for v in loaded.get("from_python", {}))
    for version, key in since:
        if version <= python:
            loaded = {**loaded, **loaded["from_python"][key]}
    return loaded


def comparable(findings: list[dict[str, Any]], like: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """The findings by the fields the expectations give (kind, process, rule; name, thread if given)."""
    keys = ("kind", "process", "rule", "name", "thread")
    return Counter(tuple(f.get(k) if any(k in e for e in like) or k in ("kind", "process", "rule") else None
                         for k in keys) for f in findings)


def check_program(tmp_path: Path, name: str, method: str, kill_after: float) -> dict[str, Any]:
    want = expected(name)
    result, doc = trace(tmp_path, sys.executable, str(PROGRAMS / f"{name}.py"), method,
                        kill_after=kill_after if want["hangs"] else None)
    assert doc is not None, result.stderr
    assert result.returncode == (3 if want["hangs"] else 0), result.stderr
    assert doc["program"]["exit_status"] == want["exit_status"], result.stderr
    assert doc["program"]["killed"] == want["hangs"]
    assert comparable(doc["findings"], want["findings"]) == comparable(want["findings"], want["findings"]), \
        result.stderr
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    return doc


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in NAMES])
def test_example_under_fork(tmp_path: Path, name: str) -> None:
    doc = check_program(tmp_path, name, "fork", kill_after=1.0)
    assert {p["start_method"] for p in doc["processes"] if p["role"] == "child"} <= {"fork"}
    if name == "nondaemon_thread_holds_exit":  # how long, and where the thread was started
        (held,) = doc["findings"]
        source = (PROGRAMS / f"{name}.py").read_text().splitlines()
        line = next(i for i, text in enumerate(source, 1) if 'name="Writer").start()' in text)
        assert 1.5 <= held["seconds"] < 1.5 + BOUND / 4
        assert held["message"].endswith(f"started at {PROGRAMS / name}.py:{line}) held the main program's exit "
                                        f"for {held['seconds']:.2f} s")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("name", [n for n in NAMES if n not in HANGING])
def test_example_under(tmp_path: Path, name: str, method: str) -> None:
    doc = check_program(tmp_path, name, method, kill_after=5.0)
    assert {p["start_method"] for p in doc["processes"] if p["role"] == "child"} <= {method}


@pytest.mark.heavy
@pytest.mark.parametrize("name, method", [(HANGING[0], "forkserver"), (HANGING[1], "spawn")])
def test_hang_killed_after_five_seconds(tmp_path: Path, name: str, method: str) -> None:
    """Each hanging example, under a start method other than fork: its findings, and nothing left."""
    doc = check_program(tmp_path, name, method, kill_after=5.0)
    removed = "; removed the temporary folders multiprocessing had made in the killed processes: "
    killed = {p["pid"] for p in doc["processes"] if p["ended"] == "killed"}
    made = [e["details"]["path"] for e in doc["events"] if e["kind"] == "temp_dir" and e["pid"] in killed]
    assert doc["program"]["incomplete"] == ("killed after 5 s: the main process had not ended"
                                            + (removed + ", ".join(made) if made else ""))
    assert (method == "forkserver") <= bool(made)  # the forkserver's socket is in a folder of the main program's
    assert not any(os.path.exists(path) for path in made)
    assert 5.0 <= (doc["ended"] - doc["started"]) / 1e9 < 5.0 + BOUND / 4
    ours = [p for p in doc["processes"] if p["role"] != "helper"]
    assert ours and all(p["ended"] == "killed" for p in ours)
    assert {p["start_method"] for p in ours if p["role"] == "child"} <= {method}


def test_daemon_child_status_and_reapers(tmp_path: Path) -> None:
    """The daemonic child's -15 comes from its parent's join; the orphan of os._exit is the tracer's."""
    _, killed = trace(tmp_path / "a", sys.executable, str(PROGRAMS / "daemon_child_killed.py"), "fork")
    _, orphaned = trace(tmp_path / "b", sys.executable, str(PROGRAMS / "os_exit_skips_joins.py"), "fork")
    assert killed is not None and orphaned is not None
    main, worker = killed["processes"]
    assert (worker["name"], worker["daemon"], worker["exit_status"], worker["ended"]) == ("Worker", True, -15, "signal")
    assert worker["reaped_by"] == main["pid"] and main["reaped_by"] == "tracer"
    main, survivor = orphaned["processes"]
    assert main["ended"] == "os_exit" and survivor["adopted_by"] == "tracer" and survivor["reaped_by"] == "tracer"
    assert [(t["name"], t["daemon"], t["started_by"], t["ended"]) for t in orphaned["threads"]] == [
        ("Blocked", False, "MainThread", None)]  # started (thread_start), never ended: os._exit came first


@pytest.mark.parametrize("flags", [["-I"], ["-E"], ["-S"], ["-bS"], ["-W", "ignore", "-E"], ["-X", "dev", "-sI"]])
def test_flags_that_keep_the_observer_out_are_refused(flags: list[str]) -> None:
    with pytest.raises(TraceUsageError, match=f"-{flags[-1][-1]}"):
        check_command(["python", *flags, "app.py"])


@pytest.mark.parametrize("argv", [["python", "app.py", "-I"], ["python", "-c", "print(1)", "-E"],
                                  ["python", "-m", "mod", "-S"], ["python", "-Wignore", "-u", "app.py"],
                                  ["python", "-X", "importtime", "app.py"]])
def test_flags_of_the_program_are_its_own(argv: list[str]) -> None:
    assert check_command(argv) == argv


def cli(*args: str) -> Result:
    """``proclife ARGS`` in this process: only for what is refused before any process starts."""
    return CliRunner().invoke(main, list(args))


def test_refused_command_lines_exit_2(tmp_path: Path) -> None:
    for program, reason in (((sys.executable, "-I", "app.py"), "-I (isolated mode"), ((), "no program to trace")):
        result = cli("trace", "--out", str(tmp_path / "out"), "--", *program)
        assert result.exit_code == 2 and reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert not (tmp_path / "out").exists()


def test_output_and_exit_status_pass_through(tmp_path: Path) -> None:
    program = tmp_path / "app.py"
    program.write_text("import sys, threading\nprint('to stdout', threading.active_count())\n"
                       "print('to stderr', file=sys.stderr)\nprint(sys.stdin.read().upper())\nsys.exit(7)\n")
    out, json_file = tmp_path / "out", tmp_path / "trace.json"
    result = subprocess.run([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--json", str(json_file),
                             "--", sys.executable, str(program)], input="from stdin", capture_output=True,
                            text=True, timeout=BOUND, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "to stdout 1\nFROM STDIN\n"  # 1: the observer adds no thread
    assert result.stderr.startswith("to stderr\n") and "exit status 7" in result.stderr
    doc = json.loads(json_file.read_text())
    assert doc["program"]["exit_status"] == 7 and doc["findings"] == []
    assert json.loads((out / "trace.json").read_text()) == doc


def test_users_sitecustomize_still_runs(tmp_path: Path) -> None:
    """The tracer's sitecustomize chains the user's own, and leaves sys.path as the program would see it."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['USER_SITE_RAN'] = __file__\n")
    program = tmp_path / "app.py"
    program.write_text(textwrap.dedent("""
        import json, os, sys, multiprocessing as mp
        def child(queue):
            queue.put(os.environ.get('USER_SITE_RAN'))
        if __name__ == '__main__':
            queue = mp.get_context('spawn').Queue()
            p = mp.get_context('spawn').Process(target=child, args=(queue,))
            p.start()
            print(json.dumps([os.environ.get('USER_SITE_RAN'), queue.get(timeout=60), sys.path]))
            p.join()
    """))
    env = {**{k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(own)}
    result, doc = trace(tmp_path, sys.executable, str(program), env=env)
    assert result.returncode == 0, result.stderr
    in_main, in_child, path = json.loads(result.stdout)
    assert in_main == in_child == str(own / "sitecustomize.py")
    assert not any("proclife-trace-site" in entry for entry in path)
    assert doc is not None and {p["role"] for p in doc["processes"]} >= {"main", "child"}


def test_check_reads_a_trace_back(tmp_path: Path) -> None:
    result, doc = trace(tmp_path, sys.executable, str(PROGRAMS / "never_joined_child.py"), "fork")
    assert doc is not None
    again = cli("trace", "--check", str(tmp_path / "trace.json"))
    assert again.exit_code == 0, again.stderr
    summary = result.stderr[result.stderr.index("proclife trace:"):]
    assert again.stderr.splitlines()[:-1] == summary.splitlines()[:-1]
    assert "child_never_joined" in again.stderr


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not JSON"),
    ('{"schema": "proclife.trace/1"}', "not a proclife trace (top level: 'command' is a required property"),
    ("[]", "not a proclife trace (top level: [] is not of type 'object')"),
])
def test_malformed_trace_is_exit_2(tmp_path: Path, content: str, problem: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = cli("trace", "--check", str(bad))
    assert result.exit_code == 2 and problem in result.stderr, result.stderr


def test_findings_name_rules_of_the_spec() -> None:
    """Every rule id the findings can name is one of the model's, with a source."""
    named = set(re.findall(r"\"((?:process|handle)\.[a-z_]+)\"", Path(findings_module.__file__).read_text()))
    rules = {rule.id: rule.source.ref for rule in load().spec.rules}
    assert named and named <= set(rules), named - set(rules)
    for name in NAMES:
        for python in ((3, 11), (3, 13)):
            assert {f["rule"] for f in expected(name, python)["findings"]} <= set(rules), (name, python)


def test_sigterm_to_the_tracer_ends_the_tree(tmp_path: Path) -> None:
    """Interrupted, the tracer kills and reaps the whole tree before it exits 3."""
    out = tmp_path / "out"
    tracer = subprocess.Popen([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--",
                               sys.executable, str(PROGRAMS / "thread_keeps_main_alive.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert tracer.stdout is not None
        ready, _, _ = select.select([tracer.stdout], [], [], BOUND)
        assert ready and tracer.stdout.readline().startswith("main program returns")
        tracer.send_signal(signal.SIGTERM)
        _, err = tracer.communicate(timeout=BOUND)
    finally:
        tracer.kill()
        tracer.wait(BOUND)
    assert tracer.returncode == 3 and "interrupted by SIGTERM" in err, err
    pids = {json.loads(line)["pid"] for line in (out / "events.jsonl").read_text().splitlines()}
    assert pids and not [pid for pid in pids if psutil.pid_exists(pid)
                         and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


ZOMBIE = """
import multiprocessing as mp, os, sys
from multiprocessing.connection import wait
if __name__ == '__main__':
    child = mp.get_context('fork').Process(target=print, args=('child ends',), name='Ended')
    child.start()
    assert wait([child.sentinel], 60), 'the child did not end within 60 s'  # ended, not reaped
    os._exit(0)
"""


def test_zombie_left_and_module_form(tmp_path: Path) -> None:
    """A child that ended before its parent's os._exit, never reaped, was a zombie left; -m runs a module."""
    (tmp_path / "zombie_app.py").write_text(ZOMBIE)
    result, doc = trace(tmp_path, sys.executable, "-m", "zombie_app")
    assert result.returncode == 0 and result.stdout == "child ends\n", result.stderr
    assert doc is not None
    assert [(f["kind"], f["process"], f["name"], f["rule"]) for f in doc["findings"]] == [
        ("zombie_left", "child", "Ended", "process.reap")]
    assert [p["adopted_by"] for p in doc["processes"]] == [None, "tracer"]


def other_python() -> str:
    """An interpreter other than this one, without proclife (the trace must not need it there)."""
    siblings = sorted(Path(sys.base_prefix).parent.glob("3.1[23]*/bin/python3"), reverse=True)  # pyenv's layout
    for path in [*filter(None, (shutil.which(n) for n in ("python3.13", "python3.12"))), *map(str, siblings)]:
        runs, imports = (subprocess.run([path, "-c", code], capture_output=True, timeout=BOUND, cwd="/").returncode
                         for code in ("pass", "import proclife"))
        if runs == 0 and imports != 0:
            return path
    pytest.skip("no python3.13 or python3.12 without proclife found")


def test_the_program_runs_under_its_own_interpreter(tmp_path: Path) -> None:
    python = other_python()
    result, doc = trace(tmp_path, python, str(PROGRAMS / "os_exit_skips_joins.py"), "fork")
    assert result.returncode == 0, result.stderr
    assert doc is not None and doc["python"].startswith(python.rsplit("python", 1)[1])
    (finding,) = doc["findings"]
    assert (finding["kind"], finding["rule"]) == ("ended_with_live_work", "process.os_exit")
    assert "thread 'Blocked'" in finding["message"] and "'Survivor'" in finding["message"]
    assert [(t["name"], t["started_by"]) for t in doc["threads"]] == [("Blocked", "MainThread")]


def test_what_the_tracer_killed_is_neither_orphan_nor_zombie() -> None:
    """A child that ended before its parent and was adopted is a zombie left, unless the tracer killed them."""
    def proc(pid: int, role: str, started_by: int | None, last: int, ended: str) -> dict[str, Any]:
        return {"pid": pid, "ppid": None, "role": role, "started_by": started_by, "name": f"P{pid}", "class": None,
                "start_method": "fork", "daemon": False, "first_event": 1, "last_event": last, "ended": ended,
                "exit_status": 0, "reaped_by": "tracer", "adopted_by": "tracer" if role == "child" else None}

    def doc(ended: str) -> dict[str, Any]:
        return {"python": "3.11.7", "ended": 100, "program": {"incomplete": None}, "threads": [], "events": [],
                "processes": [proc(10, "main", None, 50, ended), proc(11, "child", 10, 20, ended)]}

    assert [f["kind"] for f in findings_module.findings(doc("exit"))] == ["zombie_left"]
    assert findings_module.findings(doc("killed")) == []
