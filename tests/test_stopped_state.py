"""A process state an extension adds, named like a handle state, stays a state of its own machine.

The handle's ``stopped`` (a poll saw the end) and a process ``stopped`` (SIGSTOP) share a
name only: the diagrams, the explorer, the JSON export and the Promela model must keep
them apart, and the runtime must send SIGSTOP and SIGCONT with no change of its own.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import deque
from pathlib import Path

import proclife
from proclife.model.core.base import RUNNABLE, ZOMBIE
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.extend import Extension, load
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Drive, EventDef, Rule, Source, StateDef
from proclife.model.core.system import Config, System
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.scopes import Scope
from proclife.model.spin.pml import generate
from proclife.runtime.driver import Driver
from proclife.runtime.impls import resolve_impl

KERNEL = Source("signal(7): SIGSTOP stops every thread of the process, SIGCONT lets them run on", "kernel")
STOP = Extension(
    name="stop",
    doc="SIGSTOP and SIGCONT from outside",
    states=(StateDef("process", "stopped", "stopped by SIGSTOP: no thread of it runs"),),
    events=(
        EventDef("sigstop", "process", "environment", "SIGSTOP from outside (kill -STOP)",
                 drive=Drive("signal", "SIGSTOP"), by="none"),
        EventDef("sigcont", "process", "environment", "SIGCONT from outside (kill -CONT)",
                 drive=Drive("signal", "SIGCONT"), by="none"),
    ),
    rules=(
        Rule("process.sigstop", "process", "sigstop", (RUNNABLE,), "stopped", KERNEL),
        Rule("process.sigcont", "process", "sigcont", ("stopped",), RUNNABLE, KERNEL),
        Rule("process.sigkill_stopped", "process", "sigkill", ("stopped",), ZOMBIE, KERNEL,
             effects=("code:-9", "die")),
    ),
)
SCOPE = Scope("stop", "a child started, stopped, continued, killed or returning",
              offers=frozenset({"create_child", "start", "sigstop", "sigcont", "sigkill", "target_return", "join"}),
              args={"create_child": (False,)})
BOUNDS = Bounds(procs=1, threads=0, depth=1)


def _nodes(name: str) -> set[str]:
    return set(re.findall(r'^\t"([^"]+)" \[', proclife.diagram(name, [STOP]).source, re.M))


def test_it_renders_as_a_process_state_apart_from_the_handles() -> None:
    process, handle = _nodes("process"), _nodes("handle")
    assert "process/stopped" in process and "handle/stopped" not in process
    assert "handle/stopped" in handle and "process/stopped" not in handle


def test_it_exports_under_its_own_machine() -> None:
    data = proclife.model_data([STOP])
    assert "stopped" in data["machines"]["process"]["leaves"]
    assert "stopped" in data["machines"]["handle"]["leaves"]
    assert [r["dst"] for r in data["rules"] if r["id"] == "process.sigstop"] == ["stopped"]
    text = generate(load([STOP]), BOUNDS, SCOPE).text
    defines = dict(re.findall(r"^#define ([PH]_stopped) (\d+)$", text, re.M))
    assert set(defines) == {"P_stopped", "H_stopped"}
    assert "life[1] = P_stopped" in text and "handle[1] = H_stopped" in text


def test_it_is_explored_and_the_explorer_sees_what_it_means() -> None:
    explorer = Explorer(load([STOP]), BOUNDS, Config(), scope=SCOPE)
    seen, todo, lives = {System.initial()}, deque([System.initial()]), set()
    while todo:
        for _action, t in explorer.successors(todo.popleft()):
            lives |= {(p.life, p.handle) for p in t.system.procs}
            if t.system not in seen:
                seen.add(t.system)
                todo.append(t.system)
    assert ("stopped", "started") in lives  # the process is stopped while its handle is still started
    assert any(handle == "stopped" for _life, handle in lives)
    result = explorer.run()
    # A process stopped for good cannot end by itself: the explorer says so, naming the state.
    assert [v.invariant for v in result.violations] == ["everything_can_end"], result.violations
    assert "stopped" in {p.life for p in result.violations[0].path[-1].system.procs}


def _stat_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _await_stopped(pid: int, bound: float) -> bool:
    """Wait for our child ``pid`` to stop: each SIGCHLD (held blocked, so none is lost) wakes a
    ``waitid(WSTOPPED | WNOWAIT)``, which reports the stop and leaves it to be seen again."""
    deadline = time.monotonic() + bound
    while True:
        found = os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        if found is not None and found.si_code == os.CLD_STOPPED:
            return True
        left = deadline - time.monotonic()
        if left <= 0 or signal.sigtimedwait({signal.SIGCHLD}, left) is None:
            return False


def test_the_driver_stops_and_continues_a_real_process() -> None:
    """The extension's SIGSTOP reaches the main program (the driver's own child, so its stop is
    reported to the driver), and its SIGCONT lets it answer commands again."""
    model = load([STOP])
    engine = Engine(model.spec, model.semantics, Config(start_method="fork"))
    system = System.initial()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        with Driver(resolve_impl("fork"), spec=model.spec, bound=10.0) as driver:
            assert driver.p0 is not None
            for event in ("sigstop", "sigcont"):
                action = Action(event, 0)
                assert driver.perform(action, system) == "ack"
                system = engine.predict(system, action)[0].system
                if event == "sigstop":
                    assert system.procs[0].life == "stopped"
                    assert _await_stopped(driver.p0.pid, 10.0), "P0 did not stop within 10s of SIGSTOP"
                    assert _stat_state(driver.p0.pid) == "T"
            # Continued, it performs a command again (the ack is the event that shows it runs).
            assert system.procs[0].life == RUNNABLE
            assert driver.perform(Action("create_child", 0, None, False), system) == "ack"
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
