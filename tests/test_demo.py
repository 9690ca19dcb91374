"""The README's main job: `proclife demo` draws every diagram and prints a conformance table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.heavy
def test_demo_renders_the_diagrams_and_summarises_a_conformance_check(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "proclife", "demo", "--out", str(tmp_path), "--impl", "fork", "--examples", "1",
         "--max-seconds", "300"],  # the verdict must not depend on how loaded the machine is
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "conformance: real processes against the model" in out.stdout
    assert "agrees" in out.stdout
    # a summary to read: the quick check aims at rules, so the pairs it did not take are counted, not listed
    assert "pair not taken" not in out.stdout
    assert re.search(r"\d+ pairs not taken: reachable in the model; not taken within this run's budget "
                     r"\(proclife conform --impl fork --json FILE lists them\)", out.stdout), out.stdout
    assert len(out.stdout.splitlines()) <= 40, out.stdout
    for name in ("handle", "process", "thread", "exit-sequences", "composite"):
        for ext in ("svg", "png", "dot", "mmd"):
            assert (tmp_path / "diagrams" / f"{name}.{ext}").stat().st_size > 0
