"""A test that needs an external tool (spin, gcc, dot) skips where it is missing, but fails under CI.

A CI run that silently skipped the SPIN checks would report a pass it did not earn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MISSING = "proclife-no-such-tool"


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import require_tool

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING}.*CI"):
        require_tool(MISSING)


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    from conftest import require_tool

    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        require_tool(MISSING)


def test_a_present_tool_is_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import require_tool

    monkeypatch.setenv("CI", "true")
    require_tool("sh")



@pytest.mark.parametrize(("ci", "outcome", "status"), [("true", "1 error", 1), (None, "1 skipped", 0)])
def test_the_tools_marker_skips_or_fails_under_ci(tmp_path: Path, ci: str | None, outcome: str, status: int) -> None:
    shutil.copy2(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_needs.py").write_text(
        f"import pytest\n\n@pytest.mark.tools({MISSING!r})\ndef test_needs():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == status and outcome in done.stdout, done.stdout
