"""What a traced interpreter pays at start-up: the observer's bytecode is compiled once, then kept.

Under PYTHONDONTWRITEBYTECODE every interpreter would otherwise compile the observer's source
again (a spawned child, the forkserver, the resource tracker: each about 15 ms), and every run
would compile it once (about 40 ms, a tenth of a run of 200 forked processes).
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from proclife.trace.loader import bytecode_cache, environment, keep_bytecode, prepare_site
from proclife.trace.sitecustom import OBSERVER_MODULE

BOUND = 60.0


def _start(site: Path, sink: Path) -> str:
    """Start an interpreter with the trace's site folder, verbose imports; its stderr."""
    env = {**environment(site, sink, os.environ), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-v", "-c", "pass"], env=env, capture_output=True, text=True,
                            timeout=BOUND, check=True)
    return result.stderr


@pytest.fixture(autouse=True)
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _cached(site: Path) -> list[Path]:
    """Where the interpreter looks for the bytecode of the site's two modules."""
    return [Path(importlib.util.cache_from_source(str(site / f"{name}.py")))
            for name in (OBSERVER_MODULE, "sitecustomize")]


def test_first_interpreter_compiles_the_rest_read_bytecode(tmp_path: Path) -> None:
    site = prepare_site(tmp_path / "site")
    sink = tmp_path / "events.jsonl"
    cached = _cached(site)
    assert not any(path.exists() for path in cached)
    first = _start(site, sink)
    assert all(path.exists() for path in cached), first[-2000:]
    second = _start(site, sink)
    for path in cached:
        assert f"code object from '{path}'" in second, second[-2000:]
    assert sink.read_text().count('"kind":"observer_installed"') == 2  # both observed


def test_a_later_run_reads_the_bytecode_an_earlier_run_compiled(tmp_path: Path) -> None:
    first = prepare_site(tmp_path / "first")
    _start(first, tmp_path / "events.jsonl")
    keep_bytecode(first)  # what the tracer does as a run ends
    kept = sorted(path.name for path in bytecode_cache().glob("*.pyc"))
    assert kept == sorted(path.name for path in _cached(first))
    later = prepare_site(tmp_path / "later")
    assert all(path.exists() for path in _cached(later))  # before any interpreter ran
    stderr = _start(later, tmp_path / "events.jsonl")
    for path in _cached(later):
        assert f"code object from '{path}'" in stderr, stderr[-2000:]
    assert "observer_installed" in (tmp_path / "events.jsonl").read_text()


def test_bytecode_that_checks_its_source_is_not_kept(tmp_path: Path) -> None:
    site = prepare_site(tmp_path / "site")
    for path in _cached(site):  # compiled the default way: by timestamp, stale once the source is copied
        path.parent.mkdir(exist_ok=True)
        py_compile.compile(str(site / (path.name.split(".")[0] + ".py")), cfile=str(path), doraise=True)
    keep_bytecode(site)
    assert not list(bytecode_cache().glob("*.pyc"))
