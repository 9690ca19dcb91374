"""The runtime's parts: the driver a thin composition, the agent's modules those reproducers embed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from proclife.conformance.repro import AGENT_MODULES
from proclife.runtime.driver import Driver

ROOT = Path(__file__).resolve().parent.parent


def test_reproducers_embed_exactly_the_modules_the_agent_loads() -> None:
    code = ("import sys, proclife.runtime.agent; "
            "print(sorted(m.rsplit('.', 1)[1] + '.py' for m in sys.modules if m.startswith('proclife.runtime.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    loaded = set(ast.literal_eval(out.stdout))
    assert loaded | {"__init__.py"} == set(AGENT_MODULES)


def test_the_driver_keeps_its_public_face_and_stays_thin() -> None:
    for name in ("perform", "await_settled", "observe", "ready", "events", "close", "known", "p0", "exitcodes"):
        assert hasattr(Driver, name) or name in Driver.__init__.__code__.co_names, name
    lines = len((ROOT / "runtime" / "driver.py").read_text().splitlines())
    assert lines < 250, f"runtime/driver.py has {lines} lines: give the new job a module of its own"
