"""The observer's C profile filter: built with the machine's C compiler into the cache, named to
observed interpreters, and never a reason for a run to fail: without a compiler, or with a file
that does not load, the observer keeps its Python filter and says so.

That the C filter writes the events the Python one writes is tests/test_observer_monitoring.py's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from proclife.runtime import observer, observer_filter
from proclife.runtime.observer import read_events
from proclife.runtime.observer_filter import (
    FilterBuildFailed,
    build,
    built_filter,
    filter_cache,
    filter_environment,
)
from proclife.trace.summary import SLOW_FILTER, summary

BOUND = 60.0
CALLS = """
import os, sys, time
def hooked_elsewhere(n):
    return n if n < 2 else hooked_elsewhere(n - 1) + hooked_elsewhere(n - 2)
hooked_elsewhere(18)
print(type(sys.getprofile()).__name__, sys.getprofile().__name__)
os._exit(4)
"""


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    built_filter.cache_clear()
    yield tmp_path / "cache"
    built_filter.cache_clear()


def _observe(tmp_path: Path, filter_path: str | None) -> tuple[subprocess.CompletedProcess[str], list[observer.Event]]:
    """Run CALLS observed under the profile hooks, with PROCLIFE_OBSERVER_FILTER = ``filter_path``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "from proclife.runtime.observer import install_from_environment\ninstall_from_environment()\n")
    sink = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCLIFE_OBSERVER")}
    env.update(PYTHONPATH=str(site), PROCLIFE_OBSERVER=str(sink), PROCLIFE_OBSERVER_PROFILE="1")
    if filter_path is not None:
        env[observer.ENV_FILTER] = filter_path
    done = subprocess.run([sys.executable, "-c", CALLS], env=env, capture_output=True, text=True, timeout=BOUND,
                          check=False)
    return done, read_events(sink)


def test_the_filter_is_built_once_into_the_cache(fresh_cache: Path) -> None:
    built = built_filter()
    assert built is not None and built.is_file()
    assert built.parent == filter_cache() and fresh_cache in built.parents
    assert [p.name for p in built.parent.iterdir()] == [observer_filter.MODULE_FILE]  # no partial file left
    modified = built.stat().st_mtime_ns
    built_filter.cache_clear()
    assert built_filter() == built and built.stat().st_mtime_ns == modified  # found, not built again


def test_an_observed_program_runs_under_the_c_filter_unchanged(tmp_path: Path, fresh_cache: Path) -> None:
    built = built_filter()
    assert built is not None
    done, events = _observe(tmp_path, str(built))
    assert (done.returncode, done.stdout) == (4, "function _profile\n"), done.stderr[-2000:]
    installed = [e for e in events if e.kind == "observer_installed"]
    assert [e.details["hooks"] for e in installed] == ["sys.setprofile, C filter"]
    assert [e.details["code"] for e in events if e.kind == "os_exit"] == [4]  # a hooked C call let through


@pytest.mark.parametrize("given", ["", "missing", "not a library"])
def test_a_filter_that_does_not_load_leaves_the_python_filter(tmp_path: Path, given: str) -> None:
    path = {"": "", "missing": str(tmp_path / "nowhere.so"), "not a library": str(tmp_path / "text.so")}[given]
    (tmp_path / "text.so").write_text("not an ELF file\n")
    done, events = _observe(tmp_path, path)
    assert (done.returncode, done.stdout) == (4, "function _profile\n"), done.stderr[-2000:]
    assert [e.details["hooks"] for e in events if e.kind == "observer_installed"] == ["sys.setprofile"]
    assert [e.details["code"] for e in events if e.kind == "os_exit"] == [4]


def test_without_a_compiler_the_build_says_what_to_install(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-compiler")
    with pytest.raises(FilterBuildFailed, match=r"no C compiler .*apt-get install gcc"):
        build(fresh_cache / "filter")
    assert built_filter() is None
    base = {"PATH": os.environ["PATH"]}
    assert filter_environment(base) == base  # the observer then keeps its Python filter


def test_a_failed_build_leaves_no_file(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    failing = tmp_path / "failing-cc"
    failing.write_text("#!/bin/sh\necho 'half a library' > \"$6\"\necho 'cc: internal error' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    with pytest.raises(FilterBuildFailed, match=r"exit 1\): cc: internal error"):
        build(fresh_cache / "filter")
    assert list((fresh_cache / "filter").iterdir()) == []


def test_an_empty_setting_keeps_the_python_filter(fresh_cache: Path) -> None:
    kept = {observer.ENV_FILTER: ""}
    assert filter_environment(kept) == kept
    named = filter_environment({})
    assert named == {observer.ENV_FILTER: str(built_filter())}


def test_the_summary_says_when_the_python_filter_observed_a_311_run() -> None:
    doc = {"command": ["python", "app.py"], "python": "3.11.2", "hooks": "sys.setprofile", "started": 0,
           "ended": 10**9, "program": {"pid": 1, "exit_status": 0, "killed": False, "kill_after": None,
                                       "incomplete": None},
           "processes": [], "threads": [], "events": [], "findings": []}
    assert SLOW_FILTER in summary(doc)
    assert SLOW_FILTER not in summary({**doc, "hooks": "sys.setprofile, C filter"})


def test_the_filter_lets_through_exactly_the_hooked_code_and_c_functions(fresh_cache: Path) -> None:
    """Its address set grows past its first size and forgets some: each call and return of a
    hooked function, each call of a hooked C function, and nothing else reaches Python."""
    from importlib import machinery

    built = built_filter()
    assert built is not None
    loader = machinery.ExtensionFileLoader("_proclife_filter", str(built))
    module = loader.create_module(machinery.ModuleSpec("_proclife_filter", loader, origin=str(built)))
    namespace: dict[str, object] = {}
    exec("\n".join(f"def f{i}():\n    return {i}" for i in range(300)), namespace)
    functions = [namespace[f"f{i}"] for i in range(300)]
    seen: list[tuple[str, object]] = []

    def hit(frame: object, event: str, arg: object) -> None:
        seen.append((event, arg))

    module.arm(hit, "call", "return", "c_call", "c_exception", "c_return")
    for function in functions:
        module.hook_code(function.__code__)  # type: ignore[attr-defined]
    for function in functions[::2]:
        module.unhook_code(function.__code__)  # type: ignore[attr-defined]
    module.hook_c(os.getpid)
    module.set_profile(hit)
    try:
        results = [function() for function in functions]  # type: ignore[operator]
        os.getppid()
        os.getpid()
    finally:
        sys.setprofile(None)
    assert results == list(range(300))
    expected: list[tuple[str, object]] = []
    for index, function in enumerate(functions):
        if index % 2:
            expected += [("call", function.__code__), ("return", index)]  # type: ignore[attr-defined]
    assert seen == [*expected, ("c_call", os.getpid), ("c_return", os.getpid)]


def test_a_compiler_named_with_arguments_builds_it(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc is not None, "the setup installs gcc"
    monkeypatch.setenv("CC", f"env {gcc}")  # as CC="ccache gcc" is written
    assert build(fresh_cache / "filter") == fresh_cache / "filter" / observer_filter.MODULE_FILE


def test_a_compiler_that_cannot_run_is_a_failed_build_not_a_crash(fresh_cache: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/no/such/interpreter\n")  # executable, yet exec() fails: ENOENT
    broken.chmod(0o755)
    monkeypatch.setenv("CC", str(broken))
    with pytest.raises(FilterBuildFailed, match=r"cannot run .*broken-cc"):
        build(fresh_cache / "filter")
    assert built_filter() is None
