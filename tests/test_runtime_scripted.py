"""Scripted runs against real processes, compared with the model step by step.

Each step: the model predicts (``Engine.predict``), the driver performs, the observation
must be one the model allows, and after ``await_settled`` the OS view must match the
model's system. The scenarios are ones where the model allows exactly one outcome.
"""

from __future__ import annotations

import pytest

from proclife.model import BASE, NO_ARG, Action, Config, Engine, System
from proclife.runtime.driver import Driver
from proclife.runtime.errors import AgentGoneError, HarnessError
from proclife.runtime.impls import resolve_impl
from proclife.runtime.observe import expected_adopted, expected_os

METHODS = ("fork", "spawn", "forkserver")


class Run:
    """A model system and a driver moved together; every step is checked against the model."""

    def __init__(self, driver: Driver, method: str) -> None:
        self.driver = driver
        self.engine = Engine(BASE, config=Config(start_method=method))  # type: ignore[arg-type]
        self.system = System.initial()

    def step(self, event: str, pid: int, thread: int | None = None, arg: object = NO_ARG) -> str:
        action = Action(event, pid, thread, arg)
        predicted = self.engine.predict(self.system, action)
        assert predicted, f"the model does not enable {action.describe()}"
        outcomes = {t.system for t in predicted}
        assert len(outcomes) == 1, f"{action.describe()}: a scripted step must be deterministic"
        observed = self.driver.perform(action, self.system)
        allowed = {t.observed for t in predicted}
        assert observed in allowed, f"{action.describe()}: observed {observed!r}, model allows {allowed}"
        self.system = predicted[0].system
        self.driver.await_settled(self.system)
        snapshot = self.driver.observe()
        assert snapshot.mismatches(self.system) == [], self.system.describe()
        return observed


@pytest.fixture(params=METHODS)
def run(request: pytest.FixtureRequest) -> Run:
    with Driver(resolve_impl(request.param), bound=10.0) as driver:
        yield Run(driver, request.param)  # type: ignore[misc]


def test_start_twice_return_and_exitcode(run: Run) -> None:
    assert run.step("create_child", 0, arg=False) == "ack"
    assert run.driver.observe().os[1] == "none"
    assert run.step("start", 1) == "None"
    assert run.step("start", 1) == "AssertionError: cannot start a process twice"
    assert run.step("is_alive", 1) == "True"
    assert run.step("pid", 1) == "<int>"
    assert run.step("target_return", 1) == "ack"
    expected = "gone" if run.engine.config.start_method == "forkserver" else "zombie"
    assert run.driver.observe().os[1] == expected
    assert run.step("exitcode", 1) == "0"
    assert run.driver.observe().os[1] == "gone"
    assert run.step("close", 1) == "None"
    assert run.step("sentinel", 1) == "ValueError: process object is closed"


def test_non_daemon_thread_holds_child_in_exiting(run: Run) -> None:
    run.step("create_child", 0, arg=False)
    run.step("start", 1)
    run.step("create_thread", 1, arg=False)
    run.step("thread_start", 1, thread=0)
    run.step("target_return", 1)
    assert run.system.procs[1].life == "exiting.join_threads"
    assert run.driver.observe().os[1] == "alive"
    assert run.step("is_alive", 1) == "True"
    assert run.step("join_timeout", 1) == "None"
    run.step("thread_finish", 1, thread=0)
    assert run.step("exitcode", 1) == "0"


def test_terminate_gives_minus_15_and_ignored_sigterm_needs_kill(run: Run) -> None:
    run.step("create_child", 0, arg=False)
    run.step("create_child", 0, arg=True)
    run.step("start", 1)
    run.step("start", 2)
    assert run.step("terminate", 1) == "None"
    assert run.step("exitcode", 1) == "-15"
    run.step("install_sigterm", 2, arg="ignore")
    run.step("terminate", 2)
    assert run.step("is_alive", 2) == "True"
    run.step("kill", 2)
    assert run.step("exitcode", 2) == "-9"


def test_orphan_is_adopted_by_the_driver_and_reaped(run: Run) -> None:
    run.step("create_child", 0, arg=False)
    run.step("start", 1)
    run.step("create_child", 1, arg=False)
    run.step("start", 2)
    run.step("os_exit", 1, arg=3)
    assert run.system.procs[2].orphan
    snapshot = run.driver.observe()
    # Under forkserver the orphan keeps its dead parent's forkserver alive: not adopted.
    adopted = run.engine.config.start_method != "forkserver"
    assert snapshot.adopted == {0: False, 1: False, 2: adopted}
    assert run.step("exitcode", 1) == "3"
    run.step("target_return", 2)
    snapshot = run.driver.observe()
    assert snapshot.os[2] == "gone"
    if adopted:
        assert snapshot.exitcodes[2] == 0  # the driver, its subreaper, collected it


def test_worker_thread_acts_while_main_is_blocked(run: Run) -> None:
    run.step("create_thread", 0, arg=True)
    run.step("thread_start", 0, thread=0)
    run.step("block", 0)
    run.step("create_child", 0, arg=False)  # performed by T0: the main thread is blocked
    run.step("start", 1)
    run.step("thread_block", 0, thread=0)
    assert run.step("join_current", 1) == "AssertionError: can only join a child process"
    run.step("thread_release", 0, thread=0)
    run.step("release", 0)
    run.step("sys_exit", 1, arg=256)
    assert run.step("exitcode", 1) == "0"


def test_main_program_joins_its_children_then_exits(run: Run) -> None:
    run.step("create_child", 0, arg=False)
    run.step("start", 1)
    run.step("target_return", 0)
    assert run.driver.observe().os[0] == "alive"  # P0 waits for P1 in its atexit join
    run.step("target_raise", 1)
    snapshot = run.driver.observe()
    assert snapshot.os == {0: "gone", 1: "gone"}
    assert snapshot.exitcodes[0] == 0


def test_expected_os_maps_each_life() -> None:
    system = System.initial()
    system, _ = system.add(system.procs[0].__class__(parent=0, daemon=False))
    system, _ = system.add(system.procs[1].__class__(parent=0, daemon=False, life="terminated.zombie"))
    system, _ = system.add(system.procs[1].__class__(parent=0, daemon=False, life="terminated.reaped"))
    system, _ = system.add(system.procs[1].__class__(parent=0, daemon=False, life="exiting.join_children",
                                                     orphan=True))
    assert expected_os(system) == {0: "alive", 1: "none", 2: "zombie", 3: "gone", 4: "alive"}
    assert expected_adopted(system) == {0: False, 1: False, 2: False, 3: False, 4: True}


def test_model_only_event_is_refused() -> None:
    with Driver(resolve_impl("fork")) as driver, pytest.raises(HarnessError, match="model-only"):
        driver.perform(Action("proceed", 0), System.initial())


def test_process_killed_behind_the_models_back_is_reported() -> None:
    with Driver(resolve_impl("fork"), bound=5.0) as driver:
        run = Run(driver, "fork")
        run.step("create_child", 0, arg=False)
        run.step("start", 1)
        pid = driver.observe().pids[1]
        assert pid is not None
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
        with pytest.raises(AgentGoneError) as caught:
            driver.perform(Action("create_thread", 1, arg=False), run.system)
        assert caught.value.model_pid == 1
