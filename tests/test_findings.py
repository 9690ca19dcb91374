"""The known dead ends real Python has excuse exactly the state they explain, nothing beside it."""

from __future__ import annotations

from proclife.model.core.engine import Bounds
from proclife.model.core.extend import Extension, load
from proclife.model.core.system import Config, ProcState, System
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.invariants import FINDINGS
from proclife.model.explore.scopes import LIFECYCLE

DAEMON = next(f for f in FINDINGS if f.name == "daemon_ignores_sigterm")
MAIN_HELD = ProcState(None, False, "exiting.join_children", None)
STUCK_DAEMON = ProcState(0, True, "running.blocked", "started", sigterm="ignore", awaited=True)
HELD = System((MAIN_HELD, STUCK_DAEMON))


def test_an_exit_held_by_a_daemon_that_ignores_sigterm_is_the_finding() -> None:
    assert DAEMON.matches(HELD, None, Config())


def test_a_daemon_that_has_not_ignored_sigterm_is_no_excuse() -> None:
    assert not DAEMON.matches(HELD.update(1, sigterm="default"), None, Config())
    assert not DAEMON.matches(HELD.update(1, daemon=False), None, Config())


def test_a_chain_of_exits_held_by_the_daemon_is_the_finding() -> None:
    middle = ProcState(0, False, "exiting.join_children", "started", awaited=True)
    daemon = STUCK_DAEMON._replace(parent=1)
    assert DAEMON.matches(System((MAIN_HELD, middle, daemon)), None, Config())


def test_another_process_stuck_for_another_reason_is_not_excused() -> None:
    """Main awaits the daemon and also a non-daemon child blocked forever: that child is not explained."""
    blocked = ProcState(0, False, "running.blocked", "started", awaited=True)
    system, _ = HELD.add(blocked)
    assert not DAEMON.matches(system, None, Config())


def test_the_finding_is_about_the_process_it_is_asked_about() -> None:
    blocked = ProcState(0, False, "running.blocked", "started", awaited=True)
    system, pid = HELD.add(blocked)
    assert DAEMON.matches(HELD, 0, Config()) and DAEMON.matches(HELD, 1, Config())
    assert not DAEMON.matches(system, pid, Config())


def test_the_explorer_reports_the_finding_where_a_daemon_blocks_forever() -> None:
    """Nothing releases a blocked main thread: a daemonic child that ignores SIGTERM and blocks
    holds its parent's exit forever (the finding), while a non-daemon one is a violation."""
    no_release = Extension(name="no_release", doc="nothing releases a blocked main thread", remove=("process.release",))
    result = Explorer(load([no_release]), Bounds(1, 0, 2), Config(), LIFECYCLE).run()
    assert [v.invariant for v in result.violations] == ["everything_can_end"]
    (hit,) = result.findings
    assert hit.finding is DAEMON and hit.count > 0
    stuck = hit.path[-1].system
    assert stuck.procs[0].life == "exiting.join_children"
    assert stuck.procs[1].daemon and stuck.procs[1].sigterm == "ignore" and stuck.procs[1].life == "running.blocked"
