"""Replay: a path the explorer found runs on real processes, beside the model it came from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCLIFE = [sys.executable, "-m", "proclife"]
EARLY = "examples.early_exit:EXTENSION"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PROCLIFE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def violation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explore") / "early.json"
    found = run("explore", "--procs", "1", "--threads", "1", "--scope", "exit", "--extend", EARLY, "--json", str(out))
    assert found.returncode == 1, found.stdout + found.stderr
    assert json.loads(out.read_text())["violations"][0]["invariant"] == "exit_sequence_joined"
    return out


def test_the_early_exit_violation_disagrees_with_real_processes(violation: Path, tmp_path: Path) -> None:
    out = run("replay", str(violation), "--impl", "fork", "--extend", EARLY, "--bound", "2", "--repro-dir", str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "model says zombie, the OS shows alive" in out.stdout
    assert list(tmp_path.glob("reproduce-*.py"))


def test_the_same_path_agrees_with_the_base_model(violation: Path) -> None:
    out = run("replay", str(violation), "--impl", "spawn")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "every step agreed" in out.stdout


def test_a_hand_written_path_and_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"event": "create_child", "pid": 0, "arg": True}, {"event": "start", "pid": 1},
                                {"event": "terminate", "pid": 1}, {"event": "exitcode", "pid": 1}]))
    out = run("replay", str(good), "--impl", "forkserver")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "-> -15" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"event": "start", "pid": 1}]))
    out = run("replay", str(bad))
    assert out.returncode == 2 and "not possible in the model" in out.stderr
    (tmp_path / "junk.json").write_text("{")
    out = run("replay", str(tmp_path / "junk.json"))
    assert out.returncode == 2 and "is not JSON" in out.stderr
