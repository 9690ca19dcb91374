"""``./run`` on a fresh machine: one line per setup stage, the full log in a file.

Run against stubs: a PATH with no dot, spin or gcc, an ``apt-get`` and a Python whose venv
and pip each print a hundred lines, as the real ones do on a fresh Debian.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOISE = 'for i in $(seq 100); do echo "{what} output line $i"; done'
TOOLS = ("bash", "sh", "env", "cat", "cut", "rm", "id", "dirname", "mkdir", "sha256sum", "find", "sort", "tail", "head", "seq",
         "chmod", "cp", "mv", "date", "wc", "sed", "grep", "tee", "touch", "printf", "basename", "uname", "ln", "ls")
FAKE_PYTHON = f"""#!/bin/bash
case "$*" in
  *"print(sys.version)"*) echo "3.11.7 (stub)" ;;
  *"-m venv"*)
    dir="${{@: -1}}"; mkdir -p "$dir/bin"; cp "$0" "$dir/bin/python"
    printf '#!/bin/bash\\necho "proclife says hello $*"\\n' > "$dir/bin/proclife"; chmod +x "$dir/bin/proclife"
    {NOISE.format(what="venv")} ;;
  *"-m pip"*) {NOISE.format(what="pip")}; echo "pip warning on stderr" >&2 ;;
  *) exit 0 ;;
esac
"""


def fake_machine(tmp_path: Path, apt_status: int = 0) -> tuple[Path, dict[str, str]]:
    """A copy of ``./run`` and pyproject.toml, and the environment of a fresh machine stubbed."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("run", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    stubs = {
        "apt-get": f'{NOISE.format(what="apt")}\nexit {apt_status}\n',
        "sudo": 'exec "$@"\n',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}")
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    for stub in (*stubs, "python3"):
        (bin_dir / stub).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "LANG": "C.UTF-8"}
    return clone, env


def run(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(clone / "run"), *args], env=env, capture_output=True, text=True, timeout=60,
                          cwd=clone)


@pytest.mark.skipif(os.name != "posix", reason="./run is a bash script for Debian")
def test_a_fresh_demo_prints_at_most_15_lines_before_proclife(tmp_path: Path) -> None:
    clone, env = fake_machine(tmp_path)
    done = run(clone, env, "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = (done.stderr + done.stdout).splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("proclife says hello"))
    assert first <= 15, "\n".join(lines[:first])
    assert "output line" not in done.stderr + done.stdout
    assert "proclife says hello demo" in done.stdout


@pytest.mark.skipif(os.name != "posix", reason="./run is a bash script for Debian")
def test_a_failed_stage_names_the_log_and_shows_its_tail(tmp_path: Path) -> None:
    clone, env = fake_machine(tmp_path, apt_status=100)
    done = run(clone, env, "setup")
    assert done.returncode != 0
    out = done.stderr + done.stdout
    assert len(out.splitlines()) <= 40, out
    assert "apt output line 100" in out and "apt output line 1\n" not in out, "the tail, not the whole log"
    log = next(Path(word) for word in out.split() if word.endswith(".log"))
    assert "apt output line 1\n" in log.read_text()
