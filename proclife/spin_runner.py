"""Running spin, gcc and pan for ``proclife explore``: a bounded run, progress, and nothing left behind.

Every tool runs as a child that the kernel kills if proclife dies (``PR_SET_PDEATHSIG``), so
a SIGKILL or a timeout of the command leaves no pan searching on; any exception, Ctrl-C
included, kills it at once.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from proclife.model.core.engine import Bounds
from proclife.model.core.extend import Model
from proclife.model.core.system import Config
from proclife.model.explore.scopes import Scope
from proclife.model.spin.pml import MODEL_FILE, NUMBER, Option, SpinOutcome, count, generate, read_trail
from proclife.model.spin.promela import SpinError

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent (this proclife) goes away."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_spin(model: Model, bounds: Bounds, scope: Scope, config: Config | None = None,
             workdir: Path | None = None, memory_mb: int | None = None,
             progress: Callable[[str], None] | None = None, optimize: bool = True) -> SpinOutcome:
    """Generate, compile with -DNOREDUCE and run pan; on a violation, read its trail back.

    ``optimize=False`` compiles pan with -O0: gcc -O2 of pan.c costs 10-15 s of CPU, -O0 a
    quarter of that, and a search of a few ten thousand states is no slower for it.
    """
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            raise SpinError(f"{tool} is not installed; `apt-get install -y spin gcc`")
    generated = generate(model, bounds, scope, config)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MODEL_FILE).write_text(generated.text)
        _run(["spin", "-a", MODEL_FILE], folder)
        memlim = f"-DMEMLIM={memory_mb or memory_limit_mb()}"
        _run(["gcc", "-DNOREDUCE", "-DSAFETY", "-DVECTORSZ=4096", memlim, "-O2" if optimize else "-O0", "-o", "pan", "pan.c"], folder)
        out = _run(["./pan", "-m10000000", "-w26"], folder, progress)
        if "max search depth too small" in out:
            raise SpinError("pan's search depth (-m10000000) was too small: the counts would be partial")
        if "reached -DMEMLIM bound" in out:
            stored = re.search(NUMBER + r" states, stored", out)
            raise SpinError(
                f"pan reached its memory bound ({memlim} MB) after "
                f"{stored.group(1) if stored else 'an unknown number of'} states, before exhausting the "
                "bounds: no verdict. Narrow the bounds or the scope; docs/exploration.md lists measured sizes"
            )
        errors = count(out, r"errors: (\d+)")
        failed: str | None = None
        trail: tuple[Option, ...] = ()
        if errors:
            failed, trail = read_trail(_run(["spin", "-t", "-p", MODEL_FILE], folder), generated)
    seconds = time.perf_counter() - start
    elapsed = re.search(r"elapsed time ([\d.e+-]+) seconds", out)
    return SpinOutcome(count(out, NUMBER + r" states, stored"), count(out, NUMBER + r" transitions"),
                       errors, seconds, out, failed, trail, float(elapsed.group(1)) if elapsed else seconds)




def memory_limit_mb() -> int:
    """Three quarters of the memory available now, so that pan stops before the machine swaps."""
    return max(256, int(psutil.virtual_memory().available * 0.75 / 2**20))


def _run(cmd: list[str], cwd: Path, progress: Callable[[str], None] | None = None, limit: float = 3600) -> str:
    """Run a tool to the end (killed at ``limit`` seconds or on any exception); pass pan's progress lines on."""
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_die_with_parent)
    except OSError as exc:
        raise SpinError(f"{' '.join(cmd)}: {exc}") from exc
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if progress is not None and line.startswith("Depth="):
                progress(line.strip())
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines)
    if code != 0:
        why = f"killed after {limit:.0f} s" if code == -9 else f"exited {code}"
        raise SpinError(f"{' '.join(cmd)} {why}: {text[-2000:]}")
    return text
