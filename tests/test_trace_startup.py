"""What a traced interpreter pays at start-up: the observer's bytecode is compiled once per run.

Under PYTHONDONTWRITEBYTECODE every interpreter would otherwise compile the observer's source
again (a spawned child, the forkserver, the resource tracker: each about 15 ms).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from proclife.trace.loader import environment, prepare_site
from proclife.trace.sitecustom import OBSERVER_MODULE

BOUND = 60.0


def _start(site: Path, sink: Path) -> str:
    """Start an interpreter with the trace's site folder, verbose imports; its stderr."""
    env = {**environment(site, sink, os.environ), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-v", "-c", "pass"], env=env, capture_output=True, text=True,
                            timeout=BOUND, check=True)
    return result.stderr


def test_first_interpreter_compiles_the_rest_read_bytecode(tmp_path: Path) -> None:
    site = prepare_site(tmp_path / "site")
    sink = tmp_path / "events.jsonl"
    cached = [Path(importlib.util.cache_from_source(str(site / f"{name}.py")))
              for name in (OBSERVER_MODULE, "sitecustomize")]
    assert not any(path.exists() for path in cached)
    first = _start(site, sink)
    assert all(path.exists() for path in cached), first[-2000:]
    second = _start(site, sink)
    for path in cached:
        assert f"code object from '{path}'" in second, second[-2000:]
    assert sink.read_text().count('"kind":"observer_installed"') == 2  # both observed
