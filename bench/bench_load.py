"""Reliability under load: default conformance runs beside two CPU-bound processes.

    .venv/bin/python bench/bench_load.py [--runs 20] [--methods fork spawn forkserver] [--hogs 2] [--first-seed 0]

Starts ``--hogs`` processes that spin on the CPU for the whole benchmark, then runs the default
``proclife conform --impl METHOD`` ``--runs`` times per start method, one at a time, each with a
different ``--seed``, the methods taking turns. After each run it looks for any process the run left: a descendant of this
script other than the hogs, or any process whose environment carries a proclife run token.
Prints each run's exit status and duration, then per method: verdicts, disagreements, processes
left. Exit 1 if any run did not agree or left a process.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PROCLIFE = [sys.executable, "-m", "proclife"]
TOKEN_VAR = "PROCLIFE_RUN"
HOG = "while True: pass"


def leftovers(hogs: set[int]) -> list[str]:
    """Processes a finished run left: our descendants (not the hogs) and token-marked strays."""
    found = []
    me = psutil.Process()
    for proc in me.children(recursive=True):
        if proc.pid not in hogs:
            with contextlib.suppress(psutil.Error):
                found.append(f"{proc.pid} {proc.status()} {' '.join(proc.cmdline()[:4])}")
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if TOKEN_VAR in proc.environ():
                found.append(f"{proc.pid} {proc.status()} (token {proc.environ()[TOKEN_VAR][:8]})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--methods", nargs="+", default=["fork", "spawn", "forkserver"])
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run are FIRST .. FIRST+RUNS-1")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.DEVNULL) for _ in range(args.hogs)]
    hog_pids = {h.pid for h in hogs}
    tally: dict[str, collections.Counter[str]] = {m: collections.Counter() for m in args.methods}
    left_total = 0
    try:
        # seed by seed, each method in turn: a series cut short has as many runs of each method, +-1
        for seed in range(args.first_seed, args.first_seed + args.runs):
            for method in args.methods:
                started = time.monotonic()
                out = subprocess.run([*PROCLIFE, "conform", "--impl", method, "--seed", str(seed)], cwd=ROOT,
                                     capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
                seconds = time.monotonic() - started
                verdict = {0: "agrees", 1: "disagrees", 3: "incomplete"}.get(out.returncode, f"status {out.returncode}")
                tally[method][verdict] += 1
                left = leftovers(hog_pids)
                left_total += len(left)
                print(f"{method:<11} seed {seed:>2}: {verdict:<11} {seconds:6.1f} s; processes left: {len(left)}",
                      flush=True)
                if out.returncode != 0:
                    print("    " + "\n    ".join(out.stdout.strip().splitlines()[-12:]), flush=True)
                for line in left:
                    print(f"    left: {line}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print()
    print(f"load average at the end {os.getloadavg()[0]:.1f}, {args.hogs} CPU hogs, {os.cpu_count()} CPUs")
    for method, counts in tally.items():
        print(f"{method:<11} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print(f"processes left after all runs: {left_total}")
    bad = left_total or any(set(c) - {"agrees"} for c in tally.values())
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
