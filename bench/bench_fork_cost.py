"""What observing costs per forked child: the main program's and each child's CPU and page faults.

    .venv/bin/python bench/bench_fork_cost.py [--rounds 7] [--children 150] [--python PATH]

Runs bench/fork_children.py (children forked and joined one at a time, so that each figure
divides exactly by child and no two processes compete for a core) under three loads, one after
the other in each round, and prints the median and the minimum of the rounds:

- *bare*: no observer.
- *observed*: the observer loaded as ``proclife trace`` loads it (its sitecustomize, and the
  stack dumps registered: a folder for them named).
- *profile function only*: a do-nothing ``sys.setprofile`` function in every thread and nothing
  else: the floor of any observer built on a global profile function (the observer's hooks on
  3.11). On 3.12+ the observer sets no profile function; the row shows what one would cost.

The ratios are each load's median total (main program + child, per child) over the bare one's.
bench/bench_trace.py measures the whole traced run in wall time; this one says where, per child,
the fork run's overhead goes, with far less noise from other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proclife.trace.loader import environment, prepare_site  # noqa: E402

PROGRAM = ROOT / "bench" / "fork_children.py"
BOUND = 300.0  # seconds one run may take
PROFILE_ONLY = """import sys, threading
def _nothing(frame, event, arg):
    return None
threading.setprofile(_nothing)
sys.setprofile(_nothing)
"""
FIELDS = ("parent_us", "child_us", "parent_faults", "child_faults")


def environments(folder: Path) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROCLIFE_OBSERVER")}
    profile_site = folder / "profile-only"
    profile_site.mkdir()
    stacks = folder / "stacks"
    stacks.mkdir()
    (profile_site / "sitecustomize.py").write_text(PROFILE_ONLY)
    return {
        "bare": base,
        "observed": environment(prepare_site(folder / "site"), folder / "events.jsonl", base, stacks),
        "profile function only": {**base, "PYTHONPATH": str(profile_site)},
    }


def run_once(python: str, children: int, env: dict[str, str], sink: Path) -> dict[str, float]:
    sink.unlink(missing_ok=True)
    done = subprocess.run([python, str(PROGRAM), str(children)], env=env, capture_output=True, text=True,
                          timeout=BOUND, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{PROGRAM.name} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--children", type=int, default=150)
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the program")
    args = parser.parse_args()
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="proclife-bench-fork-") as tmp:
        folder = Path(tmp)
        envs = environments(folder)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in envs}
        for _ in range(args.rounds):
            for name, env in envs.items():
                results[name].append(run_once(args.python, args.children, env, folder / "events.jsonl"))
    print(f"python {version}, {args.children} fork children one at a time, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f}; per child: median (minimum)")
    print(f"{'load':<22} {'main program us':>17} {'child us':>17} {'main faults':>12} {'child faults':>13} "
          f"{'total / bare':>13}")
    bare_total = statistics.median(r["parent_us"] + r["child_us"] for r in results["bare"])
    for name, rows in results.items():
        cells = []
        for key in FIELDS:
            values = [r[key] for r in rows]
            cells.append(f"{statistics.median(values):.0f} ({min(values):.0f})" if key.endswith("us")
                         else f"{statistics.median(values):.0f}")
        total = statistics.median(r["parent_us"] + r["child_us"] for r in rows)
        print(f"{name:<22} {cells[0]:>17} {cells[1]:>17} {cells[2]:>12} {cells[3]:>13} {total / bare_total:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
