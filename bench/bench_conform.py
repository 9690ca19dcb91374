"""Conformance speed: the random phase's steps/s, and its cost against the same traces run bare.

    .venv/bin/python bench/bench_conform.py [--repeat 3] [--examples 20] [--methods fork spawn forkserver]

For each start method, ``--repeat`` random phases of the default ``proclife conform`` (default
bounds, ``--steps 20``, no directed phase, seeds 0, 1, 2...), one at a time. Each prints its
executed steps over its wall time (``Report.random_steps / Report.random_seconds``: start-ups and
teardowns included, shrinking excluded: a phase that agrees shrinks nothing). The median is the
figure.

**bare**: the same random traces (every action of every run, in order) performed again on real
processes by a driver with no model beside it: no prediction compared, no observer in the
processes, no exit statuses read; only what running the trace needs (each command's answer, and
waiting for the ends the trace itself implies before the next action). Same prestarted fresh
main program per run. The ratio is proclife's wall time over bare's for the same steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = ("fork", "spawn", "forkserver")


def bare_seconds(engine: object, impl: object, traces: list[list[object]]) -> float:
    """Wall time to perform ``traces`` on real processes with nothing compared."""
    from proclife.model.core.engine import Engine
    from proclife.model.core.semantics import Action
    from proclife.model.core.system import System
    from proclife.runtime.driver import Driver
    from proclife.runtime.impls import Implementation
    from proclife.runtime.prestart import Prestarted

    assert isinstance(engine, Engine) and isinstance(impl, Implementation)
    supply = Prestarted(lambda: Driver(impl, spec=engine.spec, ahead=True, observed=False))
    started = time.monotonic()
    try:
        for trace in traces:
            driver = supply.take()
            try:
                system = System.initial()
                for action in trace:
                    assert isinstance(action, Action)
                    observed = driver.perform(action, system)
                    outcomes = [t for t in engine.predict(system, action) if t.observed == observed]
                    if not outcomes:
                        raise SystemExit(f"bare replay left the model at {action.describe()}: saw {observed}")
                    system = outcomes[0].system
                    driver.await_settled(system)
            finally:
                driver.close()
    finally:
        supply.close()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="random phases per method (the median is kept)")
    parser.add_argument("--examples", type=int, default=20, help="random examples per phase (conform's default)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()
    if args.repeat < 1 or args.examples < 1:
        parser.error("--repeat and --examples must be at least 1")

    from proclife.conformance.check import Budget, check, engine_for
    from proclife.model.core.engine import Bounds
    from proclife.model.core.extend import load
    from proclife.runtime.impls import resolve_impl

    model = load()
    rows = []
    failed = False
    for method in args.methods:
        impl = resolve_impl(method)
        engine = engine_for(model, impl)
        rates, ratios = [], []
        for seed in range(args.repeat):
            budget = Budget(examples=args.examples, steps=20, max_seconds=600, seed=seed, directed=False)
            report = check(model, impl, Bounds(), budget)
            failed |= not report.ok
            for found in report.disagreements:
                print(f"{method} seed {seed}: disagreement: {found.headline()}")
            rate = report.random_steps / report.random_seconds
            bare = bare_seconds(engine, impl, report.random_traces)
            rates.append(rate)
            ratios.append(report.random_seconds / bare)
            print(f"{method:<11} seed {seed}: {report.random_steps} steps in {report.random_seconds:.2f} s "
                  f"= {rate:.1f} steps/s; {len(report.random_traces)} runs; bare {bare:.2f} s; "
                  f"ratio {report.random_seconds / bare:.2f}; {report.verdict}", flush=True)
        rows.append((method, statistics.median(rates), statistics.median(ratios)))
    print()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeat} random phases of {args.examples} examples x 20 steps")
    print(f"{'method':<11} {'steps/s':>8} {'proclife / bare':>16}")
    for method, rate, ratio in rows:
        print(f"{method:<11} {rate:>8.1f} {ratio:>16.2f}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
