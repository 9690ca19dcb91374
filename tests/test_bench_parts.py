"""bench/bench_fork_cost.py --parts: each part's load still takes its part out of today's observer.

The parts are patches of the observer's globals (bench_fork_cost.PARTS); a renamed global would
make a part's load crash, or silently measure the whole observer under a part's name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """import multiprocessing as mp, os, threading
def work():
    threading.Thread(target=print).start()
if __name__ == '__main__':
    p = mp.get_context('fork').Process(target=work)
    p.start(); p.join()
    pid = os.fork()  # a fork of the program's own: a fork event (a Process start's is the start)
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
"""


def _events(env: dict[str, str], sink: Path, tmp_path: Path) -> list[dict[str, object]]:
    """The events a Process child (starting one thread), a bare fork child and their parent write under ``env``."""
    program = tmp_path / "one_child.py"
    program.write_text(PROGRAM)
    sink.unlink(missing_ok=True)
    subprocess.run([sys.executable, str(program)], env=env, check=True, timeout=60, capture_output=True)
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


def _kinds(env: dict[str, str], sink: Path, tmp_path: Path) -> list[str]:
    return [str(event["kind"]) for event in _events(env, sink, tmp_path)]


def test_each_part_observes_less_than_the_whole_and_the_rest_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # (sys.path as it was after the test)
    from bench.bench_fork_cost import PARTS, environments

    envs = environments(tmp_path, parts=True)
    sink = tmp_path / "events.jsonl"
    whole = _kinds(envs["observed"], sink, tmp_path)
    assert {"process_created", "fork", "forked", "process_begin", "child_reaped", "os_exit",
            "thread_start"} <= set(whole)
    expected_missing = {
        "loaded, not installed": set(whole),
        "no events written": set(whole),
        "no Python function hooked": {"process_created", "process_begin", "child_joined"},
        "no C function hooked": {"child_reaped", "os_exit"},
        "no waitpid/waitid hook": {"child_reaped"},
        "no audit event observed": {"fork"},
        "no fork event": {"fork"},
        "no thread-start event": {"thread_start"},
        "no stack dumps": set(),
    }
    assert set(expected_missing) == set(PARTS)
    for name, missing in expected_missing.items():
        kinds = set(_kinds(envs[name], sink, tmp_path))
        assert not kinds & missing, f"{name}: still observed {sorted(kinds & missing)}"
        if name not in ("loaded, not installed", "no events written"):
            assert "observer_installed" in kinds and "forked" in kinds, f"{name}: {sorted(kinds)}"

    def registers_stacks(name: str) -> bool:
        installed = [e for e in _events(envs[name], sink, tmp_path) if e["kind"] == "observer_installed"]
        return "stacks" in installed[0]

    assert registers_stacks("observed") and not registers_stacks("no stack dumps")


def test_an_earlier_revision_is_loaded_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--against REVISION``: the observer of that revision, not the working tree's, observes."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.bench_fork_cost import environments

    added = subprocess.run(["git", "-C", str(ROOT), "log", "-n1", "--format=%h", "--diff-filter=A", "--",
                            "proclife/trace/sitecustom.py"], capture_output=True, text=True, check=True).stdout.strip()
    revision = added or "HEAD"  # the trace's first observer (far from today's), HEAD in a shallow clone
    (tmp_path / "loads").mkdir()
    envs = environments(tmp_path / "loads", against=(revision,))
    site = Path(envs[f"observed at {revision}"]["PYTHONPATH"].split(":")[0])
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:runtime/observer.py"], capture_output=True,
                           text=True, check=True).stdout
    assert (site / "_proclife_observer.py").read_text() == shown
    if added:
        assert shown != (ROOT / "runtime" / "observer.py").read_text()
    sink = tmp_path / "loads" / "events.jsonl"
    assert "forked" in _kinds(envs[f"observed at {revision}"], sink, tmp_path)


def test_an_unknown_revision_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_fork_cost.py"), "--against", "no-such-rev"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "not a revision of this repository" in done.stderr


def test_the_perf_split_puts_each_sample_in_its_process_and_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/bench_perf_split.py: the main program is the lowest pid; a child's thread is a tid not its pid;
    the kind is the first marker found anywhere in the call chain, else user code (its innermost function)."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.bench_perf_split import split

    found = [
        (100, 100, ["copy_page", "do_wp_page", "asm_exc_page_fault", "_PyObject_Malloc"]),
        (100, 100, ["copy_page_range", "kernel_clone", "__x64_sys_clone", "entry_SYSCALL_64", "os_fork"]),
        (101, 101, ["_PyEval_EvalFrameDefault", "_PyEval_Vector"]),
        (101, 101, ["ext4_write", "ksys_write", "entry_SYSCALL_64", "os_write"]),
        (101, 102, ["futex_wait", "entry_SYSCALL_64", "lock_acquire"]),
        (103, 103, ["unmap_vmas", "exit_mmap", "do_exit", "__x64_sys_exit_group", "entry_SYSCALL_64"]),
    ]
    by_kind, child_user = split(found)
    assert by_kind == {("main program", "page fault"): 1, ("main program", "fork"): 1,
                       ("children, main thread", "user"): 1, ("children, main thread", "write"): 1,
                       ("children, other threads", "other system call"): 1, ("children, main thread", "exit"): 1}
    assert child_user == {"_PyEval_EvalFrameDefault": 1}
