"""One description per event: an extension's new event runs on real processes with no runtime change.

Each event says once, in the spec, how it is performed (``Drive``), who acts (``by``) and
whether it can end a process; the driver, the conformance runner and the reproducer read
that and nothing else. A drive the runtime cannot perform is refused before anything runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from proclife.conformance.report import Disagreement
from proclife.conformance.repro import write_reproducer
from proclife.conformance.runner import Runner
from proclife.model.core.engine import Engine
from proclife.model.core.extend import Extension, Model, load
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Drive, EventDef, Rule, Source
from proclife.model.core.system import Config, System
from proclife.runtime.commands import check_performable, command_for
from proclife.runtime.errors import UnperformableError
from proclife.runtime.impls import resolve_impl

ROOT = Path(__file__).resolve().parent.parent
KERNEL = Source("signal(7): SIGUSR1's default action terminates the process", "kernel")
SIGUSR1 = EventDef("sigusr1", "process", "environment", "SIGUSR1 from outside (kill -USR1)",
                   drive=Drive("signal", "SIGUSR1", ends=True), by="none")


def usr1(code: int = -signal.SIGUSR1) -> Extension:
    """SIGUSR1 kills the process with ``code``: -10 as the kernel's default has it, or another (wrongly)."""
    rules = (Rule("process.sigusr1", "process", "sigusr1", ("running", "exiting"), "terminated.zombie", KERNEL,
                  effects=(f"code:{code}", "die")),
             Rule("process.sigusr1_ended", "process", "sigusr1", ("terminated.zombie",), None, KERNEL))
    return Extension(name="usr1", doc="SIGUSR1 from outside", events=(SIGUSR1,), rules=rules)


def runner(model: Model) -> Runner:
    return Runner(Engine(model.spec, model.semantics, Config(start_method="fork")), resolve_impl("fork"))


CHILD = [Action("create_child", 0, None, False), Action("start", 1)]


def test_an_extension_signal_reaches_a_real_process_with_no_runtime_change() -> None:
    with runner(load([usr1()])) as run:
        for action in CHILD:
            run.step(action)
        run.step(Action("sigusr1", 1))
        # The child's own parent, through the Process API, sees it killed by SIGUSR1.
        assert run.step(Action("exitcode", 1)).observed == str(-signal.SIGUSR1)
        assert run.driver.observe().mismatches(run.system) == []


def test_the_reproducer_sends_the_signal_its_steps_name(tmp_path: Path) -> None:
    wrong = load([usr1(-signal.SIGTERM)])  # a model that takes SIGUSR1 for SIGTERM
    with runner(wrong) as run, pytest.raises(Disagreement) as caught:
        for action in [*CHILD, Action("sigusr1", 1), Action("exitcode", 1)]:
            run.step(action)
    # The child's exit status is read as soon as it ends: the signal's own step disagrees.
    assert caught.value.action == Action("sigusr1", 1)
    assert any(f"it ended with {-signal.SIGUSR1}" in m for m in caught.value.mismatches), caught.value.explain()
    script = write_reproducer(caught.value, wrong.spec, tmp_path)
    # no signal table in the script's own code (the step carries the number); the embedded agent's
    # modules, the observer's list of the dispositions it reports among them, are left out of this
    own = [line for line in script.read_text().splitlines() if not line.startswith("SOURCES")]
    assert "SIGUSR1" not in "\n".join(own)
    replay = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "reproduced" in replay.stdout


def test_a_forkserver_reproducer_leaves_nothing_in_the_temporary_directory(tmp_path: Path) -> None:
    """The forkserver's socket folder (``pymp-*``) goes with the replay's own folder: the replay
    kills the processes, which then run no finalizer that would remove it."""
    wrong = load([usr1(-signal.SIGTERM)])
    fork_server = Runner(Engine(wrong.spec, wrong.semantics, Config(start_method="forkserver")),
                         resolve_impl("forkserver"))
    with fork_server as run, pytest.raises(Disagreement) as caught:
        for action in [*CHILD, Action("sigusr1", 1), Action("exitcode", 1)]:
            run.step(action)
    script = write_reproducer(caught.value, wrong.spec, tmp_path)
    private = Path(tempfile.mkdtemp(prefix="pl-repro-"))  # short: a forkserver's socket path must fit
    try:
        replay = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120, env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                                                  "TMPDIR": str(private)})
        assert replay.returncode == 1, replay.stdout + replay.stderr
        assert list(private.iterdir()) == []
    finally:
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.parametrize(("drive", "by", "names"), [
    (Drive("signal", "SIGNOPE"), "none", "no signal 'SIGNOPE'"),
    (Drive("op", "teleport"), "any", "no op 'teleport'"),
    (Drive("call", "restart"), "any", "no call 'restart'"),
    (Drive("end", "vanish"), "main", "no end 'vanish'"),
    (Drive("op", "block"), "none", "names no thread"),
])
def test_a_drive_the_runtime_cannot_perform_is_refused_at_load(drive: Drive, by: str, names: str) -> None:
    event = EventDef("odd", "process", "program", "an operation nobody wrote", drive=drive, by=by)  # type: ignore[arg-type]
    model = load([Extension(name="odd", doc="", events=(event,))])
    with pytest.raises(UnperformableError, match=f"event 'odd' .*{names}.*drive=None") as caught:
        check_performable(model.spec)
    assert "\n" not in str(caught.value) and caught.value.exit_status == 2
    check_performable(load([usr1()]).spec)  # SIGUSR1 is a signal the runtime can send


def test_who_acts_decides_where_a_command_goes() -> None:
    model = load()
    engine = Engine(model.spec, model.semantics)
    system = engine.predict(engine.predict(System.initial(), Action("create_thread", 0, None, False))[0].system,
                            Action("thread_start", 0, 0))[0].system
    release = command_for(model.spec.event("thread_release"), Action("thread_release", 0, 0), system, 0.05, 10.0)
    block = command_for(model.spec.event("thread_block"), Action("thread_block", 0, 0), system, 0.05, 10.0)
    end = command_for(model.spec.event("sys_exit"), Action("sys_exit", 0, None, 2), system, 0.05, 10.0)
    assert release[1]["thread"] == "control" and block[1]["thread"] == 0 and end[1]["thread"] == "main"
    assert end[1]["op"] == "end" and end[1]["event"] == "sys_exit"



def test_the_command_line_refuses_such_a_model_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "odd_signal.py").write_text(
        "from proclife.model.core.extend import Extension\n"
        "from proclife.model.core.spec import Drive, EventDef\n"
        "EXTENSION = Extension(name='odd', doc='', events=(EventDef('sigodd', 'process', 'environment', 'no such',"
        " drive=Drive('signal', 'SIGODD'), by='none'),))\n")
    for argv in (["conform", "--impl", "fork", "--examples", "0"], ["replay", str(tmp_path / "none.json")]):
        out = subprocess.run([sys.executable, "-m", "proclife", *argv, "--extend", "odd_signal:EXTENSION",
                              "--repro-dir", str(tmp_path / "out")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stdout + out.stderr
        assert out.stderr.strip().count("\n") == 0 and "event 'sigodd'" in out.stderr and "drive=None" in out.stderr
