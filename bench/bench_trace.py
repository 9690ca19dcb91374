"""The cost of tracing: a program of many processes and a call-heavy one, each run untraced and traced.

    .venv/bin/python bench/bench_trace.py [--repeat 3] [--methods fork spawn forkserver]
        [--processes 200] [--fib 30] [--python PATH]

**many processes**: ``examples/programs/many_processes.py METHOD 200`` (200 children, each starting
and joining two threads), run bare and under ``proclife trace``, one after the other in each
repetition. Reported, medians of ``--repeat``:

- *bare*: the program's wall time, from starting it to its exit status.
- *traced run*: the tracer's own span of the program (the trace's ``ended - started``: from
  starting it to reaping its last process); *traced / bare* is the overhead of tracing, the
  figure held to at most 1.5.
- *command*: the whole ``proclife trace`` command (its imports, the run, findings, the decision,
  the JSON written), and its ratio to bare.
- *CPU*: user + system seconds of the program's whole process tree (``wait4``; this benchmark is
  the subreaper, so a forkserver's and a resource tracker's are counted too), bare and observed:
  the observer loaded as ``proclife trace`` loads it, without the tracer. Less sensitive than wall
  time to other work on the machine; *observed / bare* is the observer's cost in CPU.
- the events in the trace and the decision's steps (each run must be accepted with every step
  matched, no finding, and nothing outside the model but the threads' ``Thread.join`` calls, which
  the model has no event for, the helpers' events and signal dispositions, or the benchmark fails).
- deciding the last trace again, two ways: ``proclife trace --check FILE`` as a command (wall
  time, and its peak RSS from ``wait4``: imports, schema validation and findings included), and
  ``decide()`` called directly on the parsed JSON in a fresh interpreter (wall time without
  tracemalloc; then the tracemalloc peak of a second call, and the growth of the process's peak
  RSS over the first call).

**start-up**: ``python -c pass`` bare and with the trace's sitecustomize and observer loaded
(median of 20): what every spawned or forkserver interpreter pays before its first line.

**call-heavy compute**: ``bench/call_heavy.py N`` (recursive fib: pure-Python calls only), bare and
traced; the program times its own computation (``perf_counter``), so start-up is not in the ratio.
On 3.12+ the observer's hooks are ``sys.monitoring`` events local to the code objects it hooks,
and fib runs unhooked; on 3.11 the same events come from the C filters' frame evaluation hook
(runtime/observer_filter.c), where a C compiler built them (the header line says which), and fib's
frames pass through it; without them, from a ``sys.setprofile`` function called at every call and
return. ``--setprofile`` runs the programs with PROCLIFE_OBSERVER_PROFILE=1: the profile function
(with its filter in C where built), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = ("fork", "spawn", "forkserver")
MANY = ROOT / "examples" / "programs" / "many_processes.py"
CALLS = ROOT / "bench" / "call_heavy.py"
BOUND = 600.0  # seconds any one run may take before the benchmark gives up on it
STARTUPS = 20


class BenchFailed(Exception):
    """A run did not do what the benchmark measures (it failed, or its trace was not clean)."""


@dataclass
class Row:
    """One method's figures over the repetitions."""

    method: str
    hooks: str  # how its programs are observed (observer_installed's "hooks"): each trace must say so
    bare: list[float] = field(default_factory=list)
    traced: list[float] = field(default_factory=list)
    command: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    outside: list[int] = field(default_factory=list)
    decide_in_command: list[float] = field(default_factory=list)
    cpu_bare: list[float] = field(default_factory=list)
    cpu_observed: list[float] = field(default_factory=list)
    last_trace: Path | None = None


def _run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str, int]:
    """Wall seconds, stdout and peak RSS (KiB, from wait4) of ``argv``; BenchFailed if it fails."""
    seconds, stdout, rss, _ = _run_cpu(argv, env)
    return seconds, stdout, rss


def _run_cpu(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str, int, float]:
    """``_run``, and the CPU seconds (user + system) of the whole tree: the process, the children
    it reaped, and the orphans that came to this process (the subreaper), reaped here."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True)
        pidfd = os.pidfd_open(proc.pid)
        try:  # the pidfd turns readable when the child ends; wait4 then reaps it with its own rusage
            ended = select.select([pidfd], [], [], BOUND)[0]
        finally:
            os.close(pidfd)
        if not ended:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise BenchFailed(f"{' '.join(argv)} still running after {BOUND:g} s")
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        cpu = usage.ru_utime + usage.ru_stime + _reap_orphans()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise BenchFailed(f"{' '.join(argv)} exited {proc.returncode}: {stderr.strip()[-2000:]}")
    return seconds, stdout, usage.ru_maxrss, cpu


def _reap_orphans() -> float:
    """Reap the orphans of the last run (a forkserver, a resource tracker: they end once the
    program has), each within BOUND; their CPU seconds."""
    cpu = 0.0
    deadline = time.monotonic() + BOUND
    while children := psutil.Process().children():
        for child in children:
            pidfd = os.pidfd_open(child.pid)
            try:
                ended = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))[0]
            finally:
                os.close(pidfd)
            if not ended:
                raise BenchFailed(f"pid {child.pid} ({' '.join(child.cmdline()[:3])}) left running by a run")
            _, _, usage = os.wait4(child.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime
    return cpu


def _trace_argv(out: Path, program: list[str]) -> list[str]:
    out.mkdir(parents=True)
    return [sys.executable, "-m", "proclife", "trace", "--out", str(out), "--json", str(out / "traced.json"),
            "--", *program]


# The documented facts outside the model (docs/trace-schema.md) that a correct program makes: its
# Thread.join calls (the model has no join of a thread: a thread's end is its own step), the events
# of the forkserver and the resource tracker, which are no Process of the model, and the signal
# dispositions a forkserver child's start sets (not SIGTERM ignored: that one is a step).
OUTSIDE_ALLOWED = {"thread_join", "thread_joined", "signal_disposition",
                   "events of processes outside the model (forkserver, resource tracker)"}


def _clean(doc: dict[str, Any], where: Path, hooks: str) -> None:
    """The trace of a correct program, observed with the hooks the header names: accepted, every
    step matched, no finding, and nothing outside the model but OUTSIDE_ALLOWED."""
    if doc.get("hooks") != hooks:
        raise BenchFailed(f"{where}: observed with {doc.get('hooks')}, where this run measures {hooks}")
    decision = doc["decision"]
    if (decision["verdict"] != "accepted" or decision["matched"] != decision["steps"]
            or set(decision["outside"]["facts"]) - OUTSIDE_ALLOWED or doc["findings"]):
        raise BenchFailed(f"{where}: the trace of a correct program is not clean: verdict {decision['verdict']}, "
                          f"{decision['matched']}/{decision['steps']} steps matched, outside "
                          f"{decision['outside']['facts']}, findings {[f['kind'] for f in doc['findings']]}")


def many(row: Row, python: str, processes: int, folder: Path) -> None:
    """One repetition for one method: bare, then traced, then observed without the tracer."""
    from proclife.trace.loader import environment, prepare_site

    program = [python, str(MANY), row.method, str(processes)]
    seconds, _, _, cpu = _run_cpu(program)
    row.bare.append(seconds)
    row.cpu_bare.append(cpu)
    out = folder / f"{row.method}-{len(row.traced)}"
    seconds, _, _ = _run(_trace_argv(out, program))
    doc = json.loads((out / "traced.json").read_text())
    _clean(doc, out, row.hooks)
    row.command.append(seconds)
    row.traced.append((doc["ended"] - doc["started"]) / 1e9)
    row.events.append(len(doc["events"]))
    row.steps.append(doc["decision"]["steps"])
    row.outside.append(doc["decision"]["outside"]["count"])
    row.decide_in_command.append(doc["decision"]["seconds"])
    row.last_trace = out / "traced.json"
    observed = folder / f"{row.method}-{len(row.traced)}-observed"
    (observed / "stacks").mkdir(parents=True)
    env = environment(prepare_site(observed / "site"), observed / "events.jsonl", os.environ, observed / "stacks")
    row.cpu_observed.append(_run_cpu(program, env)[3])


def decide_again(trace: Path) -> dict[str, float]:
    """``proclife trace --check`` as a command, and ``decide()`` in a fresh interpreter."""
    check_seconds, _, check_rss = _run([sys.executable, "-m", "proclife", "trace", "--check", str(trace)])
    _, stdout, _ = _run([sys.executable, __file__, "--decide", str(trace)])
    direct = json.loads(stdout)
    return {"check_seconds": check_seconds, "check_rss_mib": check_rss / 1024, **direct}


def _decide_here(trace: Path) -> None:
    """In a fresh interpreter: ``decide()`` timed, then its allocations and RSS growth; prints JSON."""
    import resource
    import tracemalloc

    from proclife.trace.decide import decide

    doc = json.loads(trace.read_text())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    verdict = decide(doc).verdict
    seconds = time.perf_counter() - began
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    tracemalloc.start()
    decide(doc)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"decide_seconds": seconds, "decide_peak_mib": peak / 2**20,
                      "decide_rss_growth_mib": rss_growth / 1024, "verdict": verdict}))


def startups(python: str, folder: Path) -> tuple[float, float]:
    """Median ms of ``python -c pass``, bare and with the observer loaded by the trace's sitecustomize."""
    from proclife.trace.loader import environment, prepare_site

    site = prepare_site(folder / "site")
    observed_env = environment(site, folder / "startup-events.jsonl", os.environ)
    bare, observed = [], []
    for _ in range(STARTUPS):
        bare.append(_run([python, "-c", "pass"])[0])
        observed.append(_run([python, "-c", "pass"], env=observed_env)[0])
    return statistics.median(bare) * 1000, statistics.median(observed) * 1000


_COMPUTE = re.compile(r"in ([0-9.]+) s$", re.MULTILINE)


def compute(python: str, n: int, folder: Path, repeat: int) -> dict[str, float]:
    """The call-heavy program bare and traced: medians of its own compute time and of the wall time."""
    program = [python, str(CALLS), str(n)]
    figures: dict[str, list[float]] = {"bare": [], "traced": [], "bare_wall": [], "traced_wall": []}
    for index in range(repeat):
        wall, stdout, _ = _run(program)
        figures["bare_wall"].append(wall)
        figures["bare"].append(float(_COMPUTE.findall(stdout)[-1]))
        wall, stdout, _ = _run(_trace_argv(folder / f"calls-{index}", program))
        figures["traced_wall"].append(wall)
        figures["traced"].append(float(_COMPUTE.findall(stdout)[-1]))
    return {key: statistics.median(values) for key, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each program per method (medians kept)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--processes", type=int, default=200, help="children of the many-processes program")
    parser.add_argument("--fib", type=int, default=33, help="N of the call-heavy program's fib(N)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter running the programs")
    parser.add_argument("--setprofile", action="store_true",
                        help="the observer's sys.setprofile hooks on 3.12+ too (PROCLIFE_OBSERVER_PROFILE=1)")
    parser.add_argument("--decide", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decide is not None:
        _decide_here(args.decide)
        return
    if args.repeat < 1 or args.processes < 1 or args.fib < 1:
        parser.error("--repeat, --processes and --fib must be at least 1")
    if args.setprofile:  # passed on by proclife trace to every process of the program
        os.environ["PROCLIFE_OBSERVER_PROFILE"] = "1"
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    from proclife.runtime.osproc import SUBREAPER

    SUBREAPER.hold()  # the orphans of a bare run (forkserver, resource tracker) come here, to be counted
    try:
        with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
            _bench(args, version, Path(tmp))
    except BenchFailed as exc:
        sys.exit(f"bench_trace: {exc}")
    finally:
        SUBREAPER.release()


def _hooks(setprofile: bool, before_312: bool) -> str:
    """How the programs are observed: sys.monitoring (3.12+), the C filters' frame evaluation hook
    in its place (3.11, where they built), or the profile function; with the C filters or not."""
    from proclife.runtime.observer import ENV_FILTER
    from proclife.runtime.observer_filter import filter_environment

    built = bool(filter_environment(dict(os.environ)).get(ENV_FILTER))
    if setprofile or (before_312 and not built):
        base = "sys.setprofile"
    else:
        base = "frame evaluation hook" if before_312 else "sys.monitoring"
    return f"{base}, C filter" if built else base


def _bench(args: argparse.Namespace, version: str, folder: Path) -> None:
    hooks = _hooks(args.setprofile, tuple(map(int, version.split(".")[:2])) < (3, 12))
    print(f"python {version} (programs), observer hooks: {hooks}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; median of {args.repeat}", flush=True)
    bare_ms, observed_ms = startups(args.python, folder)
    print(f"start-up (python -c pass, median of {STARTUPS}): bare {bare_ms:.1f} ms, observer loaded "
          f"{observed_ms:.1f} ms (+{observed_ms - bare_ms:.1f} ms)", flush=True)
    rows = []
    for method in args.methods:
        row = Row(method, hooks)
        for _ in range(args.repeat):
            many(row, args.python, args.processes, folder)
            print(f"{method:<11} bare {row.bare[-1]:.2f} s, traced run {row.traced[-1]:.2f} s "
                  f"({row.traced[-1] / row.bare[-1]:.2f}x), command {row.command[-1]:.2f} s, "
                  f"{row.events[-1]} events, {row.steps[-1]} steps decided in {row.decide_in_command[-1]:.2f} s "
                  f"({row.outside[-1]} facts outside the model); CPU bare {row.cpu_bare[-1]:.2f} s, observed "
                  f"{row.cpu_observed[-1]:.2f} s ({row.cpu_observed[-1] / row.cpu_bare[-1]:.2f}x)",
                  flush=True)
        rows.append(row)
    print()
    print(f"many processes: {args.processes} children x 2 threads")
    print(f"{'method':<11} {'bare s':>7} {'traced s':>9} {'traced/bare':>12} {'command s':>10} {'cmd/bare':>9} "
          f"{'events':>7} {'steps':>6} {'CPU bare s':>11} {'CPU observed s':>15} {'observed/bare':>14}")
    for row in rows:
        bare, traced, command, cpu_bare, cpu_observed = (
            statistics.median(v) for v in (row.bare, row.traced, row.command, row.cpu_bare, row.cpu_observed))
        print(f"{row.method:<11} {bare:>7.2f} {traced:>9.2f} {traced / bare:>12.2f} {command:>10.2f} "
              f"{command / bare:>9.2f} {statistics.median(row.events):>7.0f} {statistics.median(row.steps):>6.0f} "
              f"{cpu_bare:>11.2f} {cpu_observed:>15.2f} {cpu_observed / cpu_bare:>14.2f}")
    print()
    print("deciding the last trace again")
    print(f"{'method':<11} {'--check s':>10} {'--check RSS MiB':>16} {'decide() s':>11} {'decide() peak MiB':>18} "
          f"{'RSS growth MiB':>15}")
    for row in rows:
        assert row.last_trace is not None
        again = decide_again(row.last_trace)
        print(f"{row.method:<11} {again['check_seconds']:>10.2f} {again['check_rss_mib']:>16.0f} "
              f"{again['decide_seconds']:>11.2f} {again['decide_peak_mib']:>18.1f} "
              f"{again['decide_rss_growth_mib']:>15.1f}")
    print()
    calls = compute(args.python, args.fib, folder, args.repeat)
    print(f"call-heavy compute: fib({args.fib}): bare {calls['bare']:.3f} s, traced {calls['traced']:.3f} s "
          f"({calls['traced'] / calls['bare']:.2f}x); wall {calls['bare_wall']:.2f} s -> "
          f"{calls['traced_wall']:.2f} s (traced wall includes proclife trace's own work)")


if __name__ == "__main__":
    main()
