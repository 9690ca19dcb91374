"""Every verdict is earned: a pass only after the work it stands for, an input error before any run.

Exit statuses: 1 on any disagreement; 0 only when the directed plan finished and the random
phase ran at least its minimum; 3 ("incomplete") otherwise; 2 for an input the run cannot use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCLIFE = [sys.executable, "-m", "proclife"]


def proclife(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROCLIFE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_budget_too_small_for_the_directed_plan_is_incomplete(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    # Small bounds keep a cold plan search short; the plan still needs far more than a second.
    out = proclife("conform", "--impl", "fork", "--max-seconds", "1", "--procs", "1", "--threads", "0",
                   "--depth", "1", "--repro-dir", str(tmp_path), "--json", str(report))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "incomplete" in out.stdout
    assert "directed" in out.stdout  # it lists what ran
    (only,) = json.loads(report.read_text())["reports"]
    assert only["complete"] is False and only["ok"] is False
    assert only["directed_runs"] < only["directed_planned"]


def test_a_run_that_did_all_it_was_asked_is_complete(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    out = proclife("conform", "--impl", "fork", "--no-directed", "--examples", "2", "--steps", "5",
                   "--repro-dir", str(tmp_path), "--json", str(report))
    assert out.returncode == 0, out.stdout + out.stderr
    (only,) = json.loads(report.read_text())["reports"]
    assert only["complete"] is True and only["ok"] is True
    assert only["examples"] == 2


def test_an_unknown_start_method_is_an_input_error_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "teleporting.py").write_text(
        "import multiprocessing\n\n"
        "class Context:\n"
        "    Process = multiprocessing.Process\n\n"
        "    def get_start_method(self, allow_none=False):\n"
        "        return 'teleport'\n\n"
        "CTX = Context()\n"
    )
    out = proclife("conform", "--impl", "teleporting:CTX", "--max-seconds", "1", "--repro-dir", str(tmp_path),
                   cwd=tmp_path, timeout=30)
    assert out.returncode == 2, out.stdout + out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "'teleport'" in line and all(m in line for m in ("fork", "spawn", "forkserver"))
    assert "planning" not in out.stdout + out.stderr


def test_replaying_an_empty_path_is_an_input_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    out = proclife("replay", str(empty), "--repro-dir", str(tmp_path))
    assert out.returncode == 2, out.stdout + out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert str(empty) in line and "no step" in line


def test_conform_help_states_the_verdicts() -> None:
    out = proclife("conform", "--help")
    text = " ".join(out.stdout.split())
    assert "exit 1" in text and "exit 0" in text and "exit 3" in text and "incomplete" in text


def test_explore_refuses_a_python_version_the_model_does_not_know() -> None:
    out = proclife("explore", "--procs", "1", "--threads", "0", "--python", "3.99", timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "3.99" in out.stderr and all(v in out.stderr for v in ("3.11", "3.12", "3.13"))
    assert out.stdout == ""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_default_budget_finishes_the_plan_on_a_cold_plan_cache(tmp_path: Path) -> None:
    """The README's promise: with no plan cached, the defaults still earn a verdict (spawn: the slowest)."""
    report = tmp_path / "r.json"
    out = subprocess.run([*PROCLIFE, "conform", "--impl", "spawn", "--repro-dir", str(tmp_path), "--json", str(report)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stdout + out.stderr
    (only,) = json.loads(report.read_text())["reports"]
    assert only["complete"] is True and only["directed_runs"] == only["directed_planned"] > 0
