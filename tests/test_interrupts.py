"""Interruptions: what proclife inherits, and what it leaves when it is stopped from outside.

A run started with SIGINT or SIGTERM ignored (``proclife ... &`` from a script, a CI runner)
still checks the model's processes from the default dispositions; SIGTERM ends a run like
Ctrl-C (status 3, cleaned up); after a SIGKILL the agents' lifeline ends every process and the
next run removes the folder the killed one left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from proclife.runtime import workdir

ROOT = Path(__file__).resolve().parent.parent
PROCLIFE = [sys.executable, "-m", "proclife"]
BOUND = 60.0  # seconds for a run to start its processes, or for them to be gone

# Each ignored signal, and a path whose steps deliver it to real processes.
PATHS = {
    "SIGTERM": [{"event": "create_child", "pid": 0, "arg": True}, {"event": "start", "pid": 1},
                {"event": "terminate", "pid": 1}, {"event": "exitcode", "pid": 1}],
    "SIGINT": [{"event": "create_child", "pid": 0, "arg": False}, {"event": "start", "pid": 1},
               {"event": "sigint", "pid": 1}, {"event": "exitcode", "pid": 1}, {"event": "sigint", "pid": 0}],
}
# A run long enough to be interrupted: random exploration with no end but the signal.
ENDLESS = ["conform", "--impl", "fork", "--no-directed", "--examples", "100000", "--max-seconds", "600"]


def ignoring(names: list[str], argv: list[str]) -> list[str]:
    """``argv`` started the way a shell's ``&`` or a CI runner starts it: these signals at SIG_IGN."""
    code = ("import os, signal, sys\n"
            "for name in sys.argv[1].split(','):\n"
            "    signal.signal(getattr(signal, name), signal.SIG_IGN)\n"
            "os.execvp(sys.argv[2], sys.argv[2:])\n")
    return [sys.executable, "-c", code, ",".join(names), *argv]


@pytest.fixture()
def tmpdir_env() -> Iterator[tuple[Path, dict[str, str]]]:
    """A TMPDIR of the run's own (short: the agents' socket path must fit AF_UNIX's 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    try:
        yield folder, {**os.environ, "TMPDIR": str(folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def workdirs(folder: Path) -> list[Path]:
    return sorted(folder.glob("proclife-*"))


def await_agents(run: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The run's processes, once it has started at least two (P0 and a child), or fail."""
    me = psutil.Process(run.pid)
    seen: set[psutil.Process] = set()
    for _ in range(int(BOUND / 0.05)):
        seen.update(me.children(recursive=True))
        if len(seen) >= 2:
            return sorted(seen, key=lambda p: p.pid)
        try:
            me.wait(timeout=0.05)  # an event (the run ends) or the slice runs out
        except psutil.TimeoutExpired:
            continue
        pytest.fail(f"the run ended (status {run.returncode}) before it started two processes")
    pytest.fail(f"the run started no two processes within {BOUND}s")


def assert_gone(procs: list[psutil.Process]) -> None:
    _gone, alive = psutil.wait_procs(procs, timeout=BOUND)
    left = [(p.pid, p.status()) for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"still running {BOUND}s later: {left}"


@pytest.mark.parametrize("ignored", sorted(PATHS))
def test_a_run_started_with_a_signal_ignored_still_agrees(ignored: str, tmp_path: Path) -> None:
    path = tmp_path / "path.json"
    path.write_text(json.dumps(PATHS[ignored]))
    argv = [*PROCLIFE, "replay", str(path), "--impl", "fork", "--repro-dir", str(tmp_path), "--bound", "5"]
    out = subprocess.run(ignoring(["SIGINT", "SIGTERM"], argv), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "every step agreed" in out.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_conform_with_sigint_and_sigterm_ignored_agrees(method: str, tmp_path: Path) -> None:
    argv = [*PROCLIFE, "conform", "--impl", method, "--examples", "2", "--steps", "10", "--repro-dir", str(tmp_path)]
    out = subprocess.run(ignoring(["SIGINT", "SIGTERM"], argv), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sigterm_to_conform_is_an_interruption_that_leaves_nothing(
    tmpdir_env: tuple[Path, dict[str, str]],
) -> None:
    folder, env = tmpdir_env
    run = subprocess.Popen([*PROCLIFE, *ENDLESS], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        procs = await_agents(run)
        assert workdirs(folder), "the run has no working folder"
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=BOUND)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=BOUND)
    assert run.returncode == 3, err
    assert "interrupted" in err.decode()
    assert_gone(procs)
    assert workdirs(folder) == []


def test_after_a_sigkill_of_conform_nothing_runs_and_the_next_run_removes_its_folder(
    tmpdir_env: tuple[Path, dict[str, str]], tmp_path: Path,
) -> None:
    folder, env = tmpdir_env
    run = subprocess.Popen([*PROCLIFE, *ENDLESS], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        procs = await_agents(run)
        stale = workdirs(folder)
        run.kill()
        run.wait(timeout=BOUND)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=BOUND)
    assert_gone(procs)  # the lifeline: every agent leaves once its driver is gone
    assert stale and workdirs(folder) == stale, "the killed run left no folder to sweep"
    path = tmp_path / "path.json"
    path.write_text(json.dumps([{"event": "create_child", "pid": 0, "arg": False}]))
    out = subprocess.run([*PROCLIFE, "replay", str(path), "--repro-dir", str(tmp_path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert workdirs(folder) == []


def _folder(parent: Path, name: str, owner: str | None) -> Path:
    folder = parent / f"{workdir.PREFIX}{name}"
    folder.mkdir()
    (folder / "agents.log").write_text("")
    if owner is not None:
        (folder / workdir.OWNER).write_text(owner)
    return folder


def test_the_sweep_removes_only_folders_whose_owner_is_gone(tmp_path: Path) -> None:
    me = psutil.Process()
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended_started = psutil.Process(ended.pid).create_time()
    assert ended.wait(timeout=BOUND) == 0
    mine = _folder(tmp_path, "mine", f"{me.pid} {me.create_time()!r}")
    gone = _folder(tmp_path, "gone", f"{ended.pid} {ended_started!r}")
    reused = _folder(tmp_path, "reused", f"{me.pid} {me.create_time() - 60!r}")  # this pid, an older process
    unsigned = _folder(tmp_path, "unsigned", None)
    garbled = _folder(tmp_path, "garbled", "not a record")
    assert workdir.sweep(tmp_path) == sorted([gone, reused])
    assert sorted(tmp_path.iterdir()) == sorted([garbled, mine, unsigned])


def test_a_new_folder_names_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = Path(workdir.make())
    assert folder.parent == tmp_path and folder.name.startswith(workdir.PREFIX)
    assert workdir.owner_alive(folder) is True
    assert [p.name for p in folder.iterdir()] == [workdir.OWNER]
