"""States per second of the explorer, with and without symmetry, and SPIN on the same bounds.

    .venv/bin/python bench/bench_explore.py [--repeat N]

For each case (bounds and scope): the explorer without symmetry reduction (the same state
space SPIN stores with ``-DNOREDUCE``: the counts must be equal) and with it, each in a fresh
interpreter so that every run starts with cold caches and its peak RSS is its own; then SPIN:
generate the Promela, ``spin -a`` and ``gcc`` (timed apart: a fixed cost per model and bounds),
and ``pan`` (timed alone, peak RSS from ``wait4``). Times are the median of ``--repeat`` runs.
Ratios: pan states/s over the explorer's (no symmetry), and end to end (generate + compile +
pan) against the explorer's seconds. Memory: the explorer's peak RSS and its growth over the
imports; pan's peak RSS (mostly its preallocated hash table, ``-w24``, and DFS stack, ``-m``)
and what pan reports its stored states take; the ratio is the explorer's growth over the latter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proclife.model.core.engine import Bounds  # noqa: E402  (after the sys.path line)
from proclife.model.explore.scopes import LIFECYCLE, SMALL, Scope  # noqa: E402

CASES: tuple[tuple[Bounds, Scope], ...] = (
    (Bounds(1, 0, 2), LIFECYCLE),
    (Bounds(1, 1, 2), SMALL),
    (Bounds(2, 0, 2), SMALL),
)


def maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(case: int, symmetry: bool) -> None:
    """One explorer run in this (fresh) interpreter; its figures as JSON on stdout."""
    from proclife.model.core.extend import base_model
    from proclife.model.explore.explorer import Explorer

    bounds, scope = CASES[case]
    model = base_model()
    before = maxrss_mb()
    stats = Explorer(model, bounds, scope=scope, symmetry=symmetry).run().stats
    print(json.dumps({"states": stats.states, "seconds": stats.seconds, "rss_before": before,
                      "rss_peak": maxrss_mb()}))


def explore(case: int, symmetry: bool) -> dict[str, float]:
    argv = [sys.executable, __file__, "--worker", str(case), *(["--symmetry"] if symmetry else [])]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(done.stdout)


def run(argv: list[str], cwd: str, out: Path | None = None) -> float:
    """Run ``argv``; its peak RSS in MB (``wait4``). Output to ``out`` or discarded."""
    with open(out or os.devnull, "w") as sink:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return usage.ru_maxrss / 1024


def spin(case: int, folder: str) -> dict[str, float]:
    """Generate, compile and run pan as ``proclife.spin_runner.run_spin`` does, each part timed apart."""
    from proclife.model.core.extend import base_model
    from proclife.model.spin.pml import generate

    bounds, scope = CASES[case]
    start = time.perf_counter()
    text = generate(base_model(), bounds, scope).text
    generated = time.perf_counter()
    (Path(folder) / "model.pml").write_text(text)
    run(["spin", "-a", "model.pml"], folder)
    run(["gcc", "-DNOREDUCE", "-DSAFETY", "-DVECTORSZ=4096", "-O2", "-o", "pan", "pan.c"], folder)
    compiled = time.perf_counter()
    out = Path(folder) / "pan.out"
    rss = run(["./pan", "-m10000000", "-w24"], folder, out)
    ended = time.perf_counter()
    report = out.read_text()

    def number(pattern: str) -> float:
        match = re.search(pattern, report)
        if match is None:
            raise SystemExit(f"pan's output has no {pattern!r}:\n{report}")
        return float(match.group(1))

    if number(r"errors: (\d+)"):
        raise SystemExit(f"pan found errors:\n{report}")
    return {"states": number(r"(\d+) states, stored"), "generate": generated - start,
            "compile": compiled - generated, "pan": ended - compiled, "rss": rss,
            "state_mb": number(r"([\d.]+)\s+actual memory usage for states")}


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (median)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--symmetry", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.symmetry)
        return
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat}; "
          "explorer runs each in a fresh interpreter")
    print()
    print(f"{'bounds':<10} {'scope':<10} {'states':>7} {'reduced':>7} {'py s':>6} {'py st/s':>7} "
          f"{'sym s':>6} {'sym st/s':>8} {'gen+cc s':>8} {'pan s':>6} {'pan st/s':>9} "
          f"{'pan/py':>7} {'py/spin':>7}")
    memory = []
    for case, (bounds, scope) in enumerate(CASES):
        full = [explore(case, symmetry=False) for _ in range(args.repeat)]
        reduced = [explore(case, symmetry=True) for _ in range(args.repeat)]
        with tempfile.TemporaryDirectory() as folder:
            spins = [spin(case, folder) for _ in range(args.repeat)]
        states = int(full[0]["states"])
        assert all(int(r["states"]) == states for r in full + spins), (full, spins)
        py_s, sym_s = median(full, "seconds"), median(reduced, "seconds")
        pan_s = median(spins, "pan")
        fixed = median(spins, "generate") + median(spins, "compile")
        py_rate, pan_rate = states / py_s, states / max(pan_s, 1e-9)
        print(f"P{bounds.procs} T{bounds.threads} D{bounds.depth:<4} {scope.name:<10} {states:>7} "
              f"{int(reduced[0]['states']):>7} {py_s:>6.2f} {py_rate:>7.0f} {sym_s:>6.2f} "
              f"{reduced[0]['states'] / sym_s:>8.0f} {fixed:>8.2f} {pan_s:>6.3f} {pan_rate:>9.0f} "
              f"{pan_rate / py_rate:>7.1f} {py_s / (fixed + pan_s):>7.2f}")
        memory.append((bounds, scope, full, reduced, spins))
    print()
    print(f"{'bounds':<10} {'scope':<10} {'py MB':>6} {'py +MB':>7} {'sym +MB':>7} {'pan MB':>7} "
          f"{'pan states MB':>13} {'py+/states':>10}")
    for bounds, scope, full, reduced, spins in memory:
        grown = median(full, "rss_peak") - median(full, "rss_before")
        sym_grown = median(reduced, "rss_peak") - median(reduced, "rss_before")
        pan_mb = median(spins, "rss")
        print(f"P{bounds.procs} T{bounds.threads} D{bounds.depth:<4} {scope.name:<10} "
              f"{median(full, 'rss_peak'):>6.0f} {grown:>7.0f} {sym_grown:>7.0f} {pan_mb:>7.0f} "
              f"{median(spins, 'state_mb'):>13.2f} {grown / median(spins, 'state_mb'):>10.0f}")


if __name__ == "__main__":
    main()
