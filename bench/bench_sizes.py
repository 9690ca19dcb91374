"""How big the bounded state spaces are: reachable systems per bounds and scope, by SPIN.

Run: ``.venv/bin/python bench/bench_sizes.py`` (about ten minutes on 2 cores, up to 8 GB).
SPIN counts every system (no reduction); the Python explorer's count of symmetry classes is
added where it stays under ``--python-limit`` states. Bounds only add options, so every
system reachable within smaller bounds is reachable within larger ones: each count is a
lower bound for every larger bound (the last lines say what that means for a target).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proclife.model.core.engine import Bounds
from proclife.model.core.extend import base_model
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.scopes import Scope, scope
from proclife.model.spin.promela import SpinError
from proclife.spin_runner import run_spin

CASES: tuple[tuple[str, int, int], ...] = (
    ("exit", 1, 1), ("exit", 2, 0), ("exit", 1, 2), ("exit", 3, 0), ("exit", 2, 1), ("exit", 2, 2), ("exit", 3, 1),
    ("lifecycle", 0, 2), ("lifecycle", 1, 0), ("lifecycle", 1, 1), ("lifecycle", 2, 0), ("lifecycle", 1, 2),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-limit", type=int, default=400_000,
                        help="run the Python explorer (symmetry on) where SPIN counted at most this many")
    parser.add_argument("--target", default="3,2", help="PROCS,THREADS whose lower bound to state at the end")
    args = parser.parse_args()
    target = tuple(int(x) for x in args.target.split(","))
    model = base_model()
    print("model: fork, Python 3.11 rules; depth 2\n")
    print("| scope | bounds | systems (SPIN) | pan search s | pan states/s | pan MB | classes (Python) | Python s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    lower: dict[str, tuple[int, str]] = {}
    for name, procs, threads in CASES:
        bounds, chosen = Bounds(procs, threads, 2), scope(name)
        try:
            spin = run_spin(model, bounds, chosen)
        except SpinError as exc:
            print(f"| {name} | P{procs} T{threads} | (pan stopped: {str(exc)[:60]}) | | | | | |", flush=True)
            continue
        rate = spin.states / spin.search_seconds if spin.search_seconds else 0.0
        classes, py_s = "", ""
        if spin.states <= args.python_limit:
            start = time.perf_counter()
            result = Explorer(model, bounds, scope=chosen).run()
            classes, py_s = f"{result.stats.states:,}", f"{time.perf_counter() - start:.1f}"
        memory = re.search(r"([\d.]+)\s+total actual memory usage", spin.output)
        print(f"| {name} | P{procs} T{threads} | {spin.states:,} | {spin.search_seconds:.1f} | {rate:,.0f} "
              f"| {memory.group(1) if memory else '?'} | {classes} | {py_s} |", flush=True)
        if procs <= target[0] and threads <= target[1] and spin.states > lower.get(name, (0, ""))[0]:
            lower[name] = (spin.states, f"P{procs} T{threads}")
    for name in sorted(lower):
        # A scope that takes every action a narrower one takes reaches every system it reaches.
        count, where = max((c, f"{w} under {n}") for n, (c, w) in lower.items() if narrower(scope(n), scope(name)))
        print(f"\nscope {name}: P{target[0]} T{target[1]} reaches at least {count:,} systems (all of {where})")


def narrower(small: Scope, big: Scope) -> bool:
    """Every action ``small`` takes, ``big`` takes too."""
    if big.offers is not None and (small.offers is None or not small.offers <= big.offers):
        return False
    for event, domain in big.args.items():
        if small.offers is not None and event not in small.offers:
            continue
        if event not in small.args or not set(small.args[event]) <= set(domain):
            return False
    return True


if __name__ == "__main__":
    main()
