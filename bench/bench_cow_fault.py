"""What one copy-on-write page fault costs on this machine: the unit of a forked child's overhead.

    .venv/bin/python bench/bench_cow_fault.py [--pages 2000] [--rounds 7]

After a fork, every private page of the parent is shared with the child and write-protected: the
first write to it, in either process, faults and copies the page. An observer that touches a
page in a process between two forks pays one such fault per page per fork (bench_fork_cost.py
counts them per child). Here the parent writes one byte to each of ``--pages`` private pages
right after a fork (its child waits on a pipe, so that every page is still shared), then writes
them again: the second pass is the baseline, the same writes without a fault, in the same round.
Prints the medians of the rounds: microseconds per page for each pass, the faults counted
(``getrusage``), and their ratio.
"""

from __future__ import annotations

import argparse
import mmap
import os
import resource
import statistics
import time

PAGE = mmap.PAGESIZE


def one_round(pages: int) -> tuple[float, float, int]:
    """(µs per page of the first writes after a fork, of the second writes, faults of the first)."""
    buf = mmap.mmap(-1, pages * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for i in range(pages):
        buf[i * PAGE] = 1  # private and present before the fork
    gate_r, gate_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child keeps every page shared until the parent has written them twice
        os.close(gate_w)
        os.read(gate_r, 1)
        os._exit(0)
    os.close(gate_r)
    try:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter_ns()
        for i in range(pages):
            buf[i * PAGE] = 2
        first = time.perf_counter_ns() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        start = time.perf_counter_ns()
        for i in range(pages):
            buf[i * PAGE] = 3
        second = time.perf_counter_ns() - start
    finally:
        os.close(gate_w)  # the child's read returns: it exits
        os.waitpid(pid, 0)
        buf.close()
    return first / pages / 1000, second / pages / 1000, faults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if args.pages < 1 or args.rounds < 1:
        parser.error("--pages and --rounds must be at least 1")
    rounds = [one_round(args.pages) for _ in range(args.rounds)]
    first = statistics.median(r[0] for r in rounds)
    second = statistics.median(r[1] for r in rounds)
    faults = statistics.median(r[2] for r in rounds)
    print(f"{args.pages} pages of {PAGE} bytes, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}; "
          f"medians of the rounds")
    print(f"first write after a fork   {first:6.2f} us/page  ({faults:.0f} faults, {faults / args.pages:.2f} per page)")
    print(f"second write (baseline)    {second:6.2f} us/page")
    print(f"copy-on-write fault / baseline: {first / second:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
