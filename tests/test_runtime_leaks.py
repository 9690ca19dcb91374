"""After any run (closed, failed, interrupted, the driver SIGKILLed) nothing it started lives on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest

from proclife.model import Action, Config, Engine, System
from proclife.model.core.base import BASE
from proclife.runtime.driver import Driver
from proclife.runtime.impls import resolve_impl
from proclife.runtime.osproc import SUBREAPER

ROOT = Path(__file__).resolve().parent.parent
BOUND = 10.0

# P0 -> P1 (with a non-daemon thread) -> P2: a small tree, every process busy.
SCRIPT = [
    Action("create_child", 0, arg=False), Action("start", 1),
    Action("create_thread", 1, arg=False), Action("thread_start", 1, thread=0),
    Action("create_child", 1, arg=True), Action("start", 2),
]


def build_tree(driver: Driver, method: str) -> list[int]:
    """Run SCRIPT; every pid of the run's tree (agents, forkserver, resource tracker)."""
    engine = Engine(BASE, config=Config(start_method=method))  # type: ignore[arg-type]
    system = System.initial()
    for action in SCRIPT:
        driver.perform(action, system)
        system = engine.predict(system, action)[0].system
    assert driver.p0 is not None
    tree = psutil.Process(driver.p0.pid).children(recursive=True)
    return [driver.p0.pid] + [p.pid for p in tree]


def assert_all_gone(pids: list[int]) -> None:
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=BOUND)
    left = [(p.pid, p.status()) for p in alive if p.is_running()]
    assert left == [], f"still there after {BOUND}s: {left}"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_nothing_left_after_close(method: str) -> None:
    with Driver(resolve_impl(method)) as driver:
        pids = build_tree(driver, method)
        assert len(pids) >= 3
        folder = os.path.dirname(driver.address)
    assert_all_gone(pids)
    assert not os.path.exists(folder)
    # close() reaped what it adopted: no zombie child of ours is left from the run
    assert [c.pid for c in psutil.Process().children() if c.pid in pids] == []


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_nothing_left_in_the_temporary_directory_after_close(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's processes keep their temporary files (a forkserver's socket folder, ``pymp-*``) in
    the run's folder: killed at close, they run no finalizer that would remove them."""
    private = Path(tempfile.mkdtemp(prefix="pl-leaks-"))  # short: a forkserver's socket path must fit
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    try:
        with Driver(resolve_impl(method)) as driver:
            pids = build_tree(driver, method)
            folder = Path(driver.address).parent
            assert folder.parent == private
            assert (method != "forkserver") or list(folder.glob("pymp-*")), "the forkserver's socket folder"
        assert_all_gone(pids)
        assert list(private.iterdir()) == []
    finally:
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_runs_named_semaphores_are_unlinked_after_close(method: str) -> None:
    """Killed at close, the processes never unlink their semaphores; their resource tracker does, as
    it ends, once nothing else of the run is left: the run kills it only if it does not end."""
    from conftest import named_semaphores

    engine = Engine(BASE, config=Config(start_method=method))  # type: ignore[arg-type]
    with Driver(resolve_impl(method)) as driver:
        system = System.initial()
        for action in [Action("queue_put", 0, 0), Action("create_child", 0, arg=False), Action("start", 1)]:
            driver.perform(action, system)
            system = engine.predict(system, action)[0].system
        assert driver.p0 is not None
        semaphores = named_semaphores(driver.p0.pid)
        assert semaphores, "a Queue made under spawn or forkserver has named semaphores"
    assert [name for name in semaphores if os.path.exists(name)] == []


def test_nothing_left_after_an_exception_inside_with() -> None:
    pids: list[int] = []
    with pytest.raises(ZeroDivisionError), Driver(resolve_impl("fork")) as driver:
        pids = build_tree(driver, "fork")
        1 / 0  # noqa: B018
    assert_all_gone(pids)


def _driver_script(method: str, *, wait_for_stdin: bool) -> str:
    return textwrap.dedent(f"""
        import json, sys
        import psutil
        from proclife.model import Config, Engine, System
        from proclife.runtime.driver import Driver
        from proclife.runtime.impls import resolve_impl
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from test_runtime_leaks import build_tree
        driver = Driver(resolve_impl({method!r}))
        print(json.dumps(build_tree(driver, {method!r})), flush=True)
        if {wait_for_stdin!r}:
            sys.stdin.read()
    """)


def _start_script(method: str, *, wait_for_stdin: bool) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _driver_script(method, wait_for_stdin=wait_for_stdin)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded by the script's own driver bound (P0's hello)
    assert line, f"the driver script printed nothing (status {proc.wait(BOUND)})"
    return proc, json.loads(line)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_nothing_left_after_the_driver_is_sigkilled(method: str) -> None:
    SUBREAPER.hold()  # the killed driver's orphans come here, to be reaped by wait_procs
    try:
        proc, pids = _start_script(method, wait_for_stdin=True)
        descendants = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert set(pids) <= set(descendants)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(BOUND) == -signal.SIGKILL
        assert_all_gone(descendants)
    finally:
        SUBREAPER.release()  # or this worker would go on adopting the orphans of later tests


def test_nothing_left_when_the_driver_exits_without_close() -> None:
    """The atexit path: a driver never closed is closed as its interpreter exits."""
    proc, pids = _start_script("fork", wait_for_stdin=False)
    assert proc.wait(BOUND) == 0
    assert_all_gone(pids)


SUBREAPER_PROBE = textwrap.dedent("""
    from proclife.runtime.driver import Driver
    from proclife.runtime.impls import resolve_impl
    from proclife.runtime.osproc import is_subreaper
    seen = [is_subreaper()]
    with Driver(resolve_impl("fork")) as outer:
        with Driver(resolve_impl("fork")) as inner:
            seen.append(is_subreaper())
        seen.append(is_subreaper())
    seen.append(is_subreaper())
    print(seen)
""")


def test_the_subreaper_flag_is_held_only_while_a_run_is_open(tmp_path: Path) -> None:
    """A process left a subreaper would adopt, and never reap, the orphans of every later tree below it."""
    done = subprocess.run([sys.executable, "-c", SUBREAPER_PROBE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    # before any run; two runs open; the outer one still open; none
    assert done.stdout.strip() == "[False, True, True, False]"
