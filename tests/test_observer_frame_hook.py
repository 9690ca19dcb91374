"""The C filters' frame evaluation hook: ``sys.monitoring``'s local events on 3.11 (observer_filter.c).

It reads three of 3.11's internal structures, so it runs only where a check of them passed
(``frame_check``): not beside another frame hook or a profile function, not on another version.
Under it a program's own calls run unhooked (no profile function), a hooked C call is still seen,
a recursion deeper than the C stack allows is a RecursionError that says what to do, not a
crash, and code run while the interpreter finalizes (after atexit) runs as untraced, unreported. That it writes the events the profile function writes is tests/test_observer_monitoring.py's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proclife.runtime import observer
from proclife.runtime.observer import read_events
from proclife.runtime.observer_filter import built_filter

BOUND = 60.0
BEFORE_312 = sys.version_info < (3, 12)
only_311 = pytest.mark.skipif(not BEFORE_312, reason="the frame hook stands for sys.monitoring before 3.12")

CHECK = """
import sys
from importlib import machinery
path = sys.argv[1]
loader = machinery.ExtensionFileLoader("_proclife_filter", path)
filters = loader.create_module(machinery.ModuleSpec("_proclife_filter", loader, origin=path))
def probe():
    pass
def nothing(*args):
    return None
print("alone", filters.frame_check(probe))
sys.setprofile(nothing)
print("beside a profile function", filters.frame_check(probe))
sys.setprofile(None)
print("again alone", filters.frame_check(probe))
print("hooked", filters.frame_hook(nothing, nothing, nothing, nothing, nothing, nothing, object()))
print("beside another frame hook", filters.frame_check(probe))
"""


def _filter() -> str:
    built = built_filter()
    assert built is not None, "the C filters did not build: is gcc installed?"
    return str(built)


def test_the_frame_hook_runs_only_where_its_check_passed() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK, _filter()], capture_output=True, text=True, timeout=BOUND,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
    alone = str(BEFORE_312)  # 3.12+ lays its frames out otherwise: the check must see it
    assert answers == {"alone": alone, "beside a profile function": "False", "again alone": alone,
                       "hooked": alone, "beside another frame hook": "False"}  # (never where unchecked)


def _observe(tmp_path: Path, program: str, *args: str, profile: bool = False) -> tuple[
        subprocess.CompletedProcess[str], list[observer.Event]]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "from proclife.runtime.observer import install_from_environment\ninstall_from_environment()\n")
    sink = tmp_path / ("profiled.jsonl" if profile else "events.jsonl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCLIFE_OBSERVER")}
    env.update(PYTHONPATH=str(site), PROCLIFE_OBSERVER=str(sink), PROCLIFE_OBSERVER_FILTER=_filter())
    if profile:
        env[observer.ENV_PROFILE] = "1"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(program), *args], env=env, capture_output=True,
                          text=True, timeout=BOUND, check=False)
    return done, read_events(sink)


CALLS = """
import os, sys
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
print(fib(18), sys.getprofile())
os._exit(4)
"""


@only_311
def test_under_the_frame_hook_the_program_runs_without_a_profile_function(tmp_path: Path) -> None:
    done, events = _observe(tmp_path, CALLS)
    assert (done.returncode, done.stdout) == (4, "2584 None\n"), done.stderr[-2000:]
    assert [e.details["hooks"] for e in events if e.kind == "observer_installed"] == [
        "frame evaluation hook, C filter"]
    assert [e.details["code"] for e in events if e.kind == "os_exit"] == [4]  # a hooked C call, still seen


DEEP = """
import sys
sys.setrecursionlimit(1_000_000)
def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)
print(depth(int(sys.argv[1])))
"""


@only_311
def test_a_recursion_deeper_than_the_c_stack_is_a_recursion_error_that_says_what_to_do(tmp_path: Path) -> None:
    done, _ = _observe(tmp_path, DEEP, "200000")  # 3.11 untraced runs it in one C frame
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])  # not -11: no segmentation fault
    assert "RecursionError: maximum recursion depth exceeded: the C stack is nearly full" in done.stderr
    assert "PROCLIFE_OBSERVER_PROFILE=1" in done.stderr
    done, events = _observe(tmp_path, DEEP, "200000", profile=True)  # the way out it names
    assert (done.returncode, done.stdout) == (0, "200000\n"), done.stderr[-2000:]
    assert [e.details["hooks"] for e in events if e.kind == "observer_installed"] == ["sys.setprofile, C filter"]
    done, _ = _observe(tmp_path, DEEP, "5000")  # an ordinary depth is untouched
    assert (done.returncode, done.stdout) == (0, "5000\n"), done.stderr[-2000:]


AT_EXIT = """
import os, sys
class Holder:
    def __init__(self):
        self.waitpid, self.out = os.waitpid, sys.stdout
    def __del__(self):  # runs while the interpreter clears its modules
        try:
            self.waitpid(-1, 1)  # code that names a hooked C function: CALL events
        except ChildProcessError:
            pass
        self.out.write("collected\\n")
        self.out.flush()
os.holder = Holder()  # in a module imported before the observer: cleared after it
"""


@only_311
def test_code_run_while_the_interpreter_finalizes_runs_unreported(tmp_path: Path) -> None:
    done, events = _observe(tmp_path, AT_EXIT)
    assert (done.returncode, done.stdout, done.stderr) == (0, "collected\n", "")
    assert [e.details["hooks"] for e in events if e.kind == "observer_installed"] == [
        "frame evaluation hook, C filter"]


SIGNALLED_WAIT = """
import multiprocessing as mp, os, signal, sys, time

def on_usr1(signum, frame):  # a Python function run inside os.waitpid's C call (its EINTR)
    print("handled", flush=True)

def child():
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the parent is blocked in waitpid (wait4)
        with open(f"/proc/{os.getppid()}/wchan") as wchan:
            if wchan.read().strip() == "do_wait":
                break
    else:
        sys.exit("the parent never waited")
    os.kill(os.getppid(), signal.SIGUSR1)

if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, on_usr1)
    process = mp.get_context("fork").Process(target=child)
    process.start()
    process.join()  # (bounded by the test's timeout) blocks in os.waitpid: join(timeout) would select first
    print(process.pid, process.exitcode, flush=True)
"""


@only_311
def test_a_signal_handler_run_inside_a_hooked_c_call_leaves_its_return_seen(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(SIGNALLED_WAIT)
    done, events = _observe(tmp_path, f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')")
    assert done.returncode == 0, done.stderr[-2000:]
    handled, last = done.stdout.splitlines()
    pid, exitcode = map(int, last.split())
    assert (handled, exitcode) == ("handled", 0)
    installed = [e.details["hooks"] for e in events if e.kind == "observer_installed"]
    assert installed == ["frame evaluation hook, C filter"]  # (a forked child installs nothing again)
    reaped = [e.details for e in events if e.kind == "child_reaped"]
    assert [(r["child"], r["via"]) for r in reaped] == [(pid, "os.waitpid")]  # the waitpid that the handler interrupted
