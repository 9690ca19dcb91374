"""Implementation specs: each accepted form resolves, anything else fails with an actionable error."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from proclife.model import NO_ARG, Action, Config, Engine, System
from proclife.model.core.base import BASE
from proclife.runtime.driver import Driver
from proclife.runtime.errors import ImplementationError
from proclife.runtime.impls import resolve_impl


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_stdlib_start_methods(method: str) -> None:
    impl = resolve_impl(method)
    assert (impl.name, impl.spec, impl.start_method) == (method, method, method)
    assert impl.context().get_start_method() == method


@pytest.mark.parametrize(
    ("spec", "name", "method"),
    [("billiard", "billiard", "fork"), ("billiard/spawn", "billiard", "spawn"),
     ("multiprocess/forkserver", "multiprocess", "forkserver"), ("multiprocess", "multiprocess", "fork")],
)
def test_libraries_with_optional_start_method(spec: str, name: str, method: str) -> None:
    impl = resolve_impl(spec)
    assert (impl.name, impl.start_method) == (name, method)
    assert hasattr(impl.context(), "Process")


@pytest.mark.parametrize("spec", ["nope", "billiard/bogus", "fork/spawn", "no_such_module_xyz:ctx", ":ctx"])
def test_unknown_specs_fail_with_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ImplementationError) as caught:
        resolve_impl(spec)
    assert caught.value.exit_status == 2
    assert repr(spec) in str(caught.value)
    assert "accepted forms" in str(caught.value)


def _write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body)


def test_module_attribute_from_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    _write_module(tmp_path, "impl_ok_mod", "import multiprocessing\nctx = multiprocessing.get_context('spawn')\n")
    _write_module(tmp_path, "impl_bad_mod", "class Thing:\n    pass\n")
    impl = resolve_impl("impl_ok_mod:ctx")
    assert impl.start_method == "spawn"
    with pytest.raises(ImplementationError, match="has no attribute 'Process'"):
        resolve_impl("impl_bad_mod:Thing")
    with pytest.raises(ImplementationError, match="has no attribute 'missing'"):
        resolve_impl("impl_bad_mod:missing")


def test_module_attribute_impl_is_re_resolved_inside_spawned_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P0 and a spawned P1 both import the impl from the folder the run started in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _write_module(tmp_path, "impl_spawn_mod", "import multiprocessing\nctx = multiprocessing.get_context('spawn')\n")
    engine = Engine(BASE, config=Config(start_method="spawn"))
    system = System.initial()
    with Driver(resolve_impl("impl_spawn_mod:ctx")) as driver:
        for action in (Action("create_child", 0, arg=False), Action("start", 1),
                       Action("create_child", 1, arg=False), Action("start", 2),
                       Action("target_return", 2), Action("exitcode", 2, None, NO_ARG)):
            (expected,) = {t.observed for t in engine.predict(system, action)}
            assert driver.perform(action, system) == expected
            system = engine.predict(system, action)[0].system
            driver.await_settled(system)
        assert driver.observe().mismatches(system) == []


@pytest.mark.impls
@pytest.mark.parametrize("spec", ["billiard", "multiprocess", "multiprocess/spawn"])
def test_other_libraries_run_a_child(spec: str) -> None:
    with Driver(resolve_impl(spec)) as driver:
        system = System.initial()
        engine = Engine(BASE, config=Config(start_method=resolve_impl(spec).start_method))  # type: ignore[arg-type]
        observed = []
        for action in (Action("create_child", 0, arg=False), Action("start", 1),
                       Action("target_return", 1), Action("exitcode", 1)):
            observed.append(driver.perform(action, system))
            system = engine.predict(system, action)[0].system
            driver.await_settled(system)
        assert observed == ["ack", "None", "ack", "0"]


def test_an_impl_broken_inside_the_agents_is_a_harness_error_with_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It imports in the driver but not in P0: the driver says P0 never connected, and why."""
    from proclife.runtime.errors import HarnessError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _write_module(tmp_path, "impl_agent_only_broken", textwrap.dedent("""
        import os, multiprocessing
        if "PROCLIFE_RUN" in os.environ:
            raise ImportError("this impl refuses to load inside an agent")
        ctx = multiprocessing.get_context("fork")
    """))
    with pytest.raises(HarnessError) as caught:
        Driver(resolve_impl("impl_agent_only_broken:ctx"), bound=5.0)
    message = str(caught.value)
    assert "P0" in message and "it ended first" in message
    assert "refuses to load inside an agent" in message
    assert caught.value.exit_status == 3


def test_a_command_the_agent_cannot_perform_is_a_harness_error() -> None:
    """The model claims P0 is blocked; the real main thread is not: the agent says so."""
    from proclife.runtime.errors import HarnessError

    blocked = System.initial().update(0, life="running.blocked")
    with Driver(resolve_impl("fork")) as driver, pytest.raises(HarnessError, match="main thread is not blocked"):
        driver.perform(Action("release", 0), blocked)
