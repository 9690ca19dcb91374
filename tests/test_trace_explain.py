"""``proclife trace --explain-after`` and ``proclife why``: a hanging program is explained from its
exit phase and its stacks, then ended by ``--kill-after`` with no process left.

Each tracer runs in its own process (it makes itself a subreaper), bounded by a timeout; the
runs are listed in a registry folder of the test's own (PROCLIFE_TRACE_RUNS).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from proclife.runtime.observer import read_events
from proclife.trace.stacks import StacksUnavailable, blocked_in, dump, parse

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "examples" / "programs"
BOUND = 60.0


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PROCLIFE_TRACE_RUNS": str(tmp_path / "runs")}


def explained(tmp_path: Path, program: str, method: str, explain_after: float, kill_after: float
              ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out, json_file = tmp_path / "out", tmp_path / "trace.json"
    args = [sys.executable, "-m", "proclife", "trace", "--out", str(out), "--json", str(json_file),
            "--explain-after", str(explain_after), "--kill-after", str(kill_after), "--",
            sys.executable, str(PROGRAMS / f"{program}.py"), method]
    result = subprocess.run(args, capture_output=True, text=True, timeout=BOUND, env=_env(tmp_path), cwd=tmp_path)
    doc = json.loads(json_file.read_text())
    for process in doc["processes"]:
        assert not psutil.pid_exists(process["pid"]) or \
            psutil.Process(process["pid"]).create_time() > time.time() - 1, f"pid {process['pid']} left"
    assert not list((tmp_path / "runs").glob("*.json")), "the run is still listed after it ended"
    return result, doc


def _check_thread(result: subprocess.CompletedProcess[str], doc: dict[str, Any]) -> None:
    (main,) = doc["explanations"]
    assert main["label"] == "P0 (main program)" and main["phase"] == "exiting.join_threads"
    assert main["model_states"] == ["exiting.join_threads"]  # the model, from the facts so far, agrees
    assert "waiting for thread 'Waiter' (non-daemon), blocked in threading.wait" in main["text"]
    assert main["text"] in result.stderr
    assert doc["program"]["incomplete"] and result.returncode == 3  # then killed by --kill-after


# The child's exit function joins its Queue's feeder thread in its finalizers (util._run_finalizers,
# after its children joins), where the model holds it too: the feeder has not written what it holds.
HELD_CHILD = "exiting.run_finalizers"


def _check_queue(result: subprocess.CompletedProcess[str], doc: dict[str, Any]) -> None:
    by_label = {e["label"]: e for e in doc["explanations"]}
    child, parent = by_label["P1"], by_label["P0 (main program)"]
    assert child["phase"] == HELD_CHILD
    assert child["model_states"] == [HELD_CHILD], child["model_states"]
    assert "joining the feeder thread of a Queue whose pipe is full" in child["text"]
    assert "queues._feed" in child["text"] and "its parent P0 is joining it" in child["text"]
    assert "joining P1 (process.join at queue_join_deadlock.py:26)" in parent["text"]
    assert "each waits for the other" in parent["text"]
    assert child["text"] in result.stderr and result.returncode == 3


CHECKS = {"thread_keeps_main_alive": _check_thread, "queue_join_deadlock": _check_queue}


@pytest.mark.parametrize("program", sorted(CHECKS))
def test_hanging_examples_explained_then_killed(tmp_path: Path, program: str) -> None:
    result, doc = explained(tmp_path, program, "fork", explain_after=1, kill_after=3)
    CHECKS[program](result, doc)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("program", sorted(CHECKS))
def test_hanging_examples_explained_within_5s(tmp_path: Path, program: str, method: str) -> None:
    result, doc = explained(tmp_path, program, method, explain_after=5, kill_after=8)
    CHECKS[program](result, doc)
    held = [item["since"] for item in doc["explanations"] if item["since"] is not None]
    assert held and all(5 <= since < 8 for since in held)  # a parent still in its join() has no "since"


def _await_exit_step(sink: Path, deadline: float) -> list[int]:
    """The pids whose exit sequence began, once the child's has (bounded: fails at ``deadline``)."""
    while time.monotonic() < deadline:
        if sink.exists():
            events = read_events(sink)
            begun = sorted({e.pid for e in events
                            if e.kind == "exit_step_begin" and e.get("step") == "util._exit_function"})
            if begun:
                return begun
        time.sleep(0.05)  # sleep-ok: polling the sink under a deadline; the traced program signals nothing
    raise AssertionError(f"no exit_step_begin in {sink} before the deadline")


def test_why_on_a_running_traced_program(tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = tmp_path / "out"
    tracer = subprocess.Popen([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--kill-after", "20",
                               "--", sys.executable, str(PROGRAMS / "queue_join_deadlock.py"), "fork"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        (child,) = _await_exit_step(out / "events.jsonl", time.monotonic() + 15)
        why = subprocess.run([sys.executable, "-m", "proclife", "why", str(child)], capture_output=True, text=True,
                             timeout=BOUND, env=env)
        assert why.returncode == 0, why.stderr
        assert why.stdout.startswith("P1 is in run_finalizers, joining the feeder thread of a Queue")
        assert "thread 'QueueFeederThread' (daemon): blocked in connection.send_bytes" in why.stdout
        assert f"the model allows it now: {HELD_CHILD}" in why.stdout, why.stdout
    finally:
        tracer.send_signal(signal.SIGTERM)  # the tracer ends its whole tree on its way out
        tracer.communicate(timeout=BOUND)
    sink_pids = {e.pid for e in read_events(out / "events.jsonl")}
    assert not [pid for pid in sink_pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def _gone_or_zombie(proc: psutil.Process | int) -> bool:
    try:
        return (psutil.Process(proc) if isinstance(proc, int) else proc).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _temporary(tmp_path: Path) -> dict[str, str]:
    """The environment of a run whose temporary folders go to ``tmp_path/tmp`` (made here)."""
    (tmp_path / "tmp").mkdir()
    return {**_env(tmp_path), "TMPDIR": str(tmp_path / "tmp")}


@pytest.mark.parametrize("method", ("fork", "forkserver"))
def test_a_tracer_killed_by_sigkill_leaves_no_process(tmp_path: Path, method: str) -> None:
    """SIGKILL runs nothing in the tracer: its keeper ends the tree (then the processes are init's to
    reap) and removes the run's site folder (the observer's copy the tracer made for the run) and
    the folder multiprocessing made in the main program (forkserver: its socket's), which the
    killed program's finalizer never removed."""
    out = tmp_path / "out"
    tracer = subprocess.Popen([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--kill-after", "60",
                               "--", sys.executable, str(PROGRAMS / "queue_join_deadlock.py"), method],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_temporary(tmp_path),
                              cwd=tmp_path)
    try:
        (child,) = _await_exit_step(out / "events.jsonl", time.monotonic() + 15)  # it holds, its parent joins it
        keepers = [c for c in psutil.Process(tracer.pid).children() if "proclife.trace.keeper" in c.cmdline()]
        assert len(keepers) == 1, keepers
        site = Path(psutil.Process(child).environ()["PYTHONPATH"].split(os.pathsep)[0])
        assert (site / "sitecustomize.py").is_file(), site
    finally:
        tracer.kill()
        tracer.communicate(timeout=BOUND)
    deadline = time.monotonic() + 15
    while not _gone_or_zombie(keepers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)  # sleep-ok: polling a process that is not this test's child, under a deadline
    assert _gone_or_zombie(keepers[0]), "the keeper did not end within 15 s of the tracer's SIGKILL"
    events = read_events(out / "events.jsonl")
    sink_pids = {e.pid for e in events}
    assert len(sink_pids) >= 2 and all(_gone_or_zombie(pid) for pid in sink_pids)
    assert not site.exists(), f"{site} left behind"
    assert len([e for e in events if e.kind == "temp_dir"]) == (1 if method == "forkserver" else 0)
    assert list((tmp_path / "tmp").glob("pymp-*")) == []


def test_a_tree_killed_by_kill_after_leaves_no_temporary_folder(tmp_path: Path) -> None:
    """The forkserver's socket is in a folder the main program made (``util.get_temp_dir``) and
    removes at exit: killed, it never does. The tracer removes it after the kill, and says so."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--kill-after", "3", "--",
                           sys.executable, str(PROGRAMS / "queue_join_deadlock.py"), "forkserver"],
                          capture_output=True, text=True, env=_temporary(tmp_path), cwd=tmp_path, timeout=BOUND)
    assert done.returncode == 3, done.stderr
    (made,) = [e.get("path") for e in read_events(out / "events.jsonl") if e.kind == "temp_dir"]
    assert Path(made).parent == tmp_path / "tmp" and Path(made).name.startswith("pymp-")
    assert list((tmp_path / "tmp").glob("pymp-*")) == []
    incomplete = json.loads((out / "trace.json").read_text())["program"]["incomplete"]
    assert incomplete.endswith(f"removed the temporary folders multiprocessing had made in the killed processes: {made}")


def test_a_tree_killed_by_kill_after_leaves_no_named_semaphore(tmp_path: Path) -> None:
    """The program's resource tracker is spared until the rest of the tree is dead: it then unlinks
    the named semaphores of the program's Queue (spawn), which the killed processes never do."""
    from conftest import named_semaphores

    out = tmp_path / "out"
    tracer = subprocess.Popen([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--kill-after", "4",
                               "--", sys.executable, str(PROGRAMS / "queue_join_deadlock.py"), "spawn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(tmp_path), cwd=tmp_path)
    try:
        _await_exit_step(out / "events.jsonl", time.monotonic() + 15)  # the deadlock holds
        (main,) = [c for c in psutil.Process(tracer.pid).children() if "queue_join_deadlock.py" in " ".join(c.cmdline())]
        semaphores = named_semaphores(main.pid)
        assert semaphores, "a Queue made under spawn has named semaphores"
    finally:
        _, stderr = tracer.communicate(timeout=BOUND)
    assert "killed after 4 s" in stderr.decode(), stderr
    assert [name for name in semaphores if os.path.exists(name)] == []


def test_why_refuses_a_pid_outside_traced_runs(tmp_path: Path) -> None:
    why = subprocess.run([sys.executable, "-m", "proclife", "why", str(os.getpid())], capture_output=True,
                         text=True, timeout=BOUND, env=_env(tmp_path))
    assert why.returncode == 2
    assert f"pid {os.getpid()} is not in a traced run in progress" in why.stderr


def test_stacks_parsed_into_the_program_call() -> None:
    dump = ('Thread 0x00007f0fdf2786c0 (most recent call first):\n'
            '  File "/usr/lib/python3.11/threading.py", line 327 in wait\n'
            '  File "/usr/lib/python3.11/queue.py", line 140 in put\n'
            '  File "/home/u/app.py", line 42 in writer\n'
            '  File "/usr/lib/python3.11/threading.py", line 1002 in _bootstrap\n\n'
            'Current thread 0x00007f0fdffdeb80 (most recent call first):\n'
            '  File "/home/u/app.py", line 7 in <module>\n')
    writer, main = parse(dump)
    assert writer.ident == 0x7F0FDF2786C0 and writer.is_thread_bootstrap() and not main.is_thread_bootstrap()
    assert blocked_in(writer) == "queue.put at app.py:42"
    assert blocked_in(main) == "<module> at app.py:7"


STACKS_PROBE = """
import os, sys
from proclife.runtime import observer
stacks = sys.argv[2] if len(sys.argv) > 2 else None
observer.install(sys.argv[1], stacks=stacks)
caught = next(int(line.split()[1], 16) for line in open("/proc/self/status") if line.startswith("SigCgt:"))
print(not caught >> (observer.STACKS_SIGNAL - 1) & 1, flush=True)  # the kernel's view: no handler
if stacks:
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), observer.STACKS_SIGNAL)
        os._exit(0)
    os.waitpid(pid, 0)
    print(os.getpid(), pid, flush=True)
"""


def test_stack_dumps_registered_only_when_asked(tmp_path: Path) -> None:
    plain = subprocess.run([sys.executable, "-c", STACKS_PROBE, str(tmp_path / "a.jsonl")], capture_output=True,
                           text=True, timeout=BOUND, check=True)
    assert plain.stdout.split() == ["True"]  # conformance and the tests: SIGRTMIN+3 keeps its default
    folder = tmp_path / "stacks"
    folder.mkdir()
    asked = subprocess.run([sys.executable, "-c", STACKS_PROBE, str(tmp_path / "b.jsonl"), str(folder)],
                           capture_output=True, text=True, timeout=BOUND, check=True)
    default, parent, child = asked.stdout.split()
    assert default == "False"
    own = folder / f"stacks-{parent}.txt"
    dump = own.read_text()  # the forked child wrote to the file it inherited, and created none
    assert "(most recent call first)" in dump and "<module>" in dump
    assert sorted(folder.iterdir()) == [own]
    installed = [e for e in read_events(tmp_path / "b.jsonl") if e.kind in ("observer_installed", "forked")]
    assert [(e.kind, e.pid, e.get("stacks", {}).get("file")) for e in installed] == [
        ("observer_installed", int(parent), str(own)), ("forked", int(child), str(own))]


def test_a_dump_waits_for_another_dump_of_the_same_file_then_gives_up(tmp_path: Path) -> None:
    """A forked child shares its parent's file: a second dump must not truncate the first one's."""
    shared = tmp_path / "stacks-1.txt"
    shared.write_text("the first dump, still being read\n")
    ended = subprocess.Popen(["true"])
    ended.wait(timeout=BOUND)  # a pid no process has now: a dump that skipped the lock says "has ended"
    with open(shared, "rb") as first:
        fcntl.flock(first, fcntl.LOCK_EX)
        with pytest.raises(StacksUnavailable, match="stayed locked by another dump"):
            dump(ended.pid, shared, bound=0.3)
    assert shared.read_text() == "the first dump, still being read\n"
