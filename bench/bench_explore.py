"""States per second of the explorer, with and without symmetry, and SPIN on the same bounds."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.engine import Bounds
from model.explore import Explorer
from model.extend import base_model
from model.profiles import LIFECYCLE, SMALL
from model.promela import run_spin

CASES = ((Bounds(1, 0, 2), LIFECYCLE), (Bounds(1, 1, 2), SMALL), (Bounds(2, 0, 2), SMALL))


def main() -> None:
    model = base_model()
    print(f"{'bounds':<14} {'profile':<10} {'states':>8} {'reduced':>8} {'py s':>6} {'py st/s':>8} "
          f"{'spin s':>7} {'spin st/s':>10} {'spin/py':>8}")
    for bounds, prof in CASES:
        full = Explorer(model, bounds, profile=prof, symmetry=False).run().stats
        reduced = Explorer(model, bounds, profile=prof, symmetry=True).run().stats
        spin = run_spin(model, bounds, prof)
        assert spin.states == full.states, (spin.states, full.states)
        rate = spin.states / spin.seconds
        print(f"P{bounds.procs} T{bounds.threads} D{bounds.depth:<6} {prof.name:<10} {full.states:>8} {reduced.states:>8} "
              f"{full.seconds:>6.2f} {full.rate:>8.0f} {spin.seconds:>7.2f} {rate:>10.0f} {rate / full.rate:>8.1f}")


if __name__ == "__main__":
    main()
