"""A correct program doing little, many times: 200 processes, each starting two threads. No finding.

    python many_processes.py [fork|spawn|forkserver] [PROCESSES]

Every child starts two non-daemon threads that each do a tiny job, joins them, and checks their
results; the main program starts every child, then joins each one and checks its exit code. It is
the load ``proclife trace`` is measured on (bench/bench_trace.py): what tracing costs when a
program starts many processes and threads.
"""

import multiprocessing as mp
import sys
import threading

THREADS_PER_CHILD = 2


def tiny_job(results: list[int], index: int) -> None:
    results[index] = sum(range(100))


def work() -> None:
    results = [0] * THREADS_PER_CHILD
    threads = [threading.Thread(target=tiny_job, args=(results, i), name=f"Job-{i}")
               for i in range(THREADS_PER_CHILD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if results != [sum(range(100))] * THREADS_PER_CHILD:
        raise SystemExit(f"a thread's job went wrong: {results}")


def main(method: str, count: int) -> None:
    context = mp.get_context(method)
    children = [context.Process(target=work, name=f"Worker-{i}") for i in range(count)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    failed = [child.name for child in children if child.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} children failed: {', '.join(failed[:5])}")
    print(f"{count} children and {count * THREADS_PER_CHILD} threads joined")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork", int(sys.argv[2]) if len(sys.argv) > 2 else 200)
