"""What a conformance run costs against the same process operations done bare, per start method.

    .venv/bin/python bench/bench_conform.py [--repeat N] [--methods fork spawn forkserver]

For each start method, two ways of doing the same real operations, each from a fresh
interpreter as the main program until every process has ended:

- **bare**: ``BARE`` below, run as a script: the main program creates a non-daemon child, starts
  it; the child creates and starts a non-daemon thread, the thread finishes, the child's target
  returns; the main program joins the child, reads its exit code and returns. Synchronized with
  pipes and ``join`` only.
- **proclife**: ``run_trace`` of ``trace()`` (the same operations as model actions) against the
  model: driver, agents, a prediction and a comparison after every step.

Both: one untimed warm-up, then the median of ``--repeat`` wall-clock times (``perf_counter``).
Then a ``check()`` per method with a small budget (``--check-seconds``, bounds P1 T1 D2), whose
steps/s come from its ``Report``; its directed plan is searched first, into a fresh cache, and
timed on its own ("plan s"): the search is paid once per model, the steps on every run.
Memory: peak RSS (``getrusage``) of this process after each phase (a high-water mark: bare
runs, then proclife runs, then plan searches, then checks), as a ratio to the bare phase.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = ("fork", "spawn", "forkserver")

BARE = '''\
import multiprocessing
import sys
import threading


def thread_body(conn):
    conn.recv()                       # "finish"
    conn.send("finished")             # the thread ends


def target(thread_conn, target_conn):
    t = threading.Thread(target=thread_body, args=(thread_conn,), daemon=False)
    t.start()
    target_conn.send("started")
    target_conn.recv()                # "return": the target returns; the exit sequence joins t


def main(method):
    ctx = multiprocessing.get_context(method)
    thread_here, thread_there = ctx.Pipe()
    target_here, target_there = ctx.Pipe()
    p = ctx.Process(target=target, args=(thread_there, target_there), daemon=False)
    p.start()
    assert target_here.recv() == "started"
    thread_here.send("finish")
    assert thread_here.recv() == "finished"
    target_here.send("return")
    p.join()
    assert p.exitcode == 0, p.exitcode


if __name__ == "__main__":
    main(sys.argv[1])                 # then the main program returns
'''


def trace() -> list:
    """The same operations as ``BARE``, as model actions for ``run_trace``."""
    from proclife.model.core.semantics import NO_ARG, Action

    return [
        Action("create_child", 0, None, False),
        Action("start", 1, None, NO_ARG),
        Action("create_thread", 1, None, False),
        Action("thread_start", 1, 0, NO_ARG),
        Action("thread_finish", 1, 0, NO_ARG),
        Action("target_return", 1, None, NO_ARG),
        Action("exitcode", 1, None, NO_ARG),
        Action("target_return", 0, None, NO_ARG),
    ]


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: page cache, forkserver binary, lru caches of the engine
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB (Linux reports KB); a high-water mark."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per method and side (median)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--grace", type=float, default=None,
                        help="Timing.grace for the proclife runs (default: Timing's own)")
    parser.add_argument("--check-seconds", type=float, default=10.0, help="wall-clock budget of each check()")
    parser.add_argument("--check-examples", type=int, default=5, help="random examples of each check()")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE)

        def bare(method: str) -> Callable[[], None]:
            def run() -> None:
                subprocess.run([sys.executable, str(script), method], check=True, timeout=60,
                               stdin=subprocess.DEVNULL, cwd=tmp)
            return run

        bare_ms = {m: 1000 * median_seconds(bare(m), args.repeat) for m in args.methods}
    rss_bare = peak_rss_mb()

    from proclife.conformance.check import Budget, check, engine_for
    from proclife.conformance.plans import plan_for
    from proclife.conformance.runner import Timing, run_trace
    from proclife.model.core.engine import Bounds, Engine
    from proclife.model.core.extend import load
    from proclife.model.core.system import Config
    from proclife.runtime.impls import resolve_impl

    model = load()
    timing = Timing() if args.grace is None else Timing(grace=args.grace)
    actions = trace()
    python = sys.version_info[:2]
    proclife_ms: dict[str, float] = {}
    for method in args.methods:
        impl = resolve_impl(method)
        engine = Engine(model.spec, model.semantics, Config(start_method=method, python=python))  # type: ignore[arg-type]

        def conform(engine: Engine = engine, impl: object = impl) -> None:
            steps = run_trace(engine, impl, actions, timing)  # type: ignore[arg-type]
            assert len(steps) == len(actions), steps

        proclife_ms[method] = 1000 * median_seconds(conform, args.repeat)
    rss_proclife = peak_rss_mb()

    # The directed plan is searched once per model and cached on disk: search it here, into a fresh
    # cache, timed on its own, so that the check's steps/s are those of running steps.
    bounds = Bounds(1, 1, 2)
    budget = Budget(examples=args.check_examples, steps=10, max_seconds=args.check_seconds, seed=0)
    plan_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="proclife-bench-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        for method in args.methods:
            start = time.perf_counter()
            plan_for(engine_for(model, resolve_impl(method), timing.optimize), bounds)
            plan_s[method] = time.perf_counter() - start
        rss_plan = peak_rss_mb()
        reports = {m: check(model, resolve_impl(m), bounds, budget, timing) for m in args.methods}
        rss_check = peak_rss_mb()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} after one warm-up; "
          f"trace of {len(actions)} steps; Timing(join_timeout={timing.join_timeout}, grace={timing.grace})")
    print()
    print(f"{'method':<11} {'bare ms':>8} {'proclife ms':>12} {'ratio':>6} {'steps/s':>8}   "
          f"{'plan s':>6} {'check steps':>11} {'runs':>5} {'s':>6} {'steps/s':>8} {'ok':>3}")
    for method in args.methods:
        rep = reports[method]
        trace_rate = len(actions) / (proclife_ms[method] / 1000)
        check_rate = rep.steps / rep.seconds if rep.seconds else 0.0
        print(f"{method:<11} {bare_ms[method]:>8.0f} {proclife_ms[method]:>12.0f} "
              f"{proclife_ms[method] / bare_ms[method]:>6.1f} {trace_rate:>8.1f}   "
              f"{plan_s[method]:>6.1f} {rep.steps:>11} {rep.runs:>5} {rep.seconds:>6.1f} {check_rate:>8.1f} {'yes' if rep.ok else 'NO':>3}")
    print()
    print(f"{'peak RSS of this process':<26} {'MB':>6} {'/ bare':>7}")
    for label, mb in (("after the bare runs", rss_bare), ("after the proclife runs", rss_proclife),
                      ("after the plan searches", rss_plan), ("after the checks", rss_check)):
        print(f"{label:<26} {mb:>6.1f} {mb / rss_bare:>7.1f}")
    for method, rep in reports.items():
        for found in rep.disagreements:
            print(f"{method}: disagreement: {found.headline()}")
    if not all(r.ok for r in reports.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
