"""Where tracing's CPU goes, by process and by kind of work: a sampling profile of the fork program.

    .venv/bin/python bench/bench_perf_split.py [--python PATH] [--processes 200] [--method fork]

Runs ``examples/programs/many_processes.py`` under ``perf record`` (the ``cpu-clock`` software
event, 10 kHz, with call chains) twice in the same run: bare, and with the observer loaded as
``proclife trace`` loads it (its sitecustomize, stack dumps registered). Each sample is put in a
process (the main program, a child's main thread, a child's other threads) and a kind of work by
what its call chain holds: a page fault (copy-on-write after a fork, most of them), the fork
itself (``kernel_clone``), a ``write`` (the events), the exit (``do_exit``), another system call,
or else user code. Prints the samples (tenths of a millisecond of CPU) of each, bare and
observed, what the observer added, and that as a share of the bare total; then the user-mode
functions the observer added most samples to in the children's main threads. CPU samples are
steadier than wall time on a shared machine, and they say which part of bench_trace.py's ratio
to work on. Needs ``perf`` (Debian: linux-perf) with user sampling allowed
(``/proc/sys/kernel/perf_event_paranoid`` at most 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proclife.trace.loader import environment, prepare_site  # noqa: E402

PROGRAM = ROOT / "examples" / "programs" / "many_processes.py"
FREQUENCY = 10_000  # samples per CPU second: one sample is 0.1 ms
BOUND = 300.0
KINDS = (  # (kind, a frame of the call chain that marks it), the first that matches
    ("page fault", "asm_exc_page_fault"),
    ("fork", "kernel_clone"),
    ("exit", "do_exit"),
    ("write", "ksys_write"),
    ("other system call", "entry_SYSCALL"),
)
PROCESSES = ("main program", "children, main thread", "children, other threads")


class PerfUnavailable(Exception):
    """perf is missing or may not sample: the message says what to install or set."""


def record(python: str, argv: list[str], env: dict[str, str], data: Path) -> None:
    done = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-g", "-o", str(data),
                           "--", python, *argv], env=env, capture_output=True, text=True, timeout=BOUND, check=False)
    if done.returncode != 0:
        raise PerfUnavailable(f"perf record failed (exit {done.returncode}): {done.stderr.strip()[-500:]}; "
                              "sampling needs /proc/sys/kernel/perf_event_paranoid at most 2")


def samples(data: Path) -> list[tuple[int, int, list[str]]]:
    """Each sample: (pid, tid, the function names of its call chain, innermost first)."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,ip,sym"], capture_output=True,
                         text=True, timeout=BOUND, check=True).stdout
    found = []
    for block in out.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        pid, tid = (int(part) for part in lines[0].split()[0].split("/"))
        chain = [line.split(None, 1)[1].split("+")[0].strip() if len(line.split(None, 1)) > 1 else "?"
                 for line in lines[1:]]
        found.append((pid, tid, chain))
    return found


def split(found: list[tuple[int, int, list[str]]]) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    """Samples by (process, kind); and the children's main threads' user samples by innermost function."""
    main = min(pid for pid, _, _ in found)  # the main program started first: the lowest pid of the run
    by_kind: Counter[tuple[str, str]] = Counter()
    child_user: Counter[str] = Counter()
    for pid, tid, chain in found:
        process = PROCESSES[0] if pid == main else PROCESSES[1] if tid == pid else PROCESSES[2]
        text = " ".join(chain)
        kind = next((name for name, mark in KINDS if mark in text), "user")
        by_kind[(process, kind)] += 1
        if process == PROCESSES[1] and kind == "user" and chain:
            child_user[chain[0]] += 1
    return by_kind, child_user


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the program")
    parser.add_argument("--processes", type=int, default=200)
    parser.add_argument("--method", default="fork", choices=("fork", "spawn", "forkserver"))
    args = parser.parse_args()
    if shutil.which("perf") is None:
        parser.exit(2, "bench_perf_split: perf not found; install it (apt-get install linux-perf)\n")
    argv = [str(PROGRAM), args.method, str(args.processes)]
    with tempfile.TemporaryDirectory(prefix="proclife-bench-perf-") as tmp:
        folder = Path(tmp)
        (folder / "stacks").mkdir()
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROCLIFE_OBSERVER")}
        envs = {"bare": base, "observed": environment(prepare_site(folder / "site"), folder / "events.jsonl", base,
                                                      folder / "stacks")}
        results = {}
        try:
            for name, env in envs.items():
                record(args.python, argv, env, folder / f"{name}.data")
                results[name] = split(samples(folder / f"{name}.data"))
        except PerfUnavailable as exc:
            parser.exit(2, f"bench_perf_split: {exc}\n")
    (bare, _), (observed, observed_user) = results["bare"], results["observed"]
    total = sum(bare.values())
    print(f"{args.method}, {args.processes} children; samples of {1000 / FREQUENCY:g} ms CPU: bare {total}, "
          f"observed {sum(observed.values())} ({sum(observed.values()) / total:.2f}x)")
    print(f"{'process':<26} {'work':<18} {'bare':>7} {'observed':>9} {'added':>7} {'added / bare total':>19}")
    for process in PROCESSES:
        for kind in ("user", *(name for name, _ in KINDS)):
            b, o = bare[(process, kind)], observed[(process, kind)]
            if b or o:
                print(f"{process:<26} {kind:<18} {b:>7} {o:>9} {o - b:>7} {(o - b) / total:>19.3f}")
    _, bare_user = results["bare"]
    added = Counter({name: observed_user[name] - bare_user[name] for name in observed_user})
    print("children's main threads, user code: the functions with the most samples added")
    for name, count in added.most_common(12):
        print(f"  {count:>6}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
