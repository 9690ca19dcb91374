"""What observing costs per forked child: the main program's and each child's CPU and page faults.

    .venv/bin/python bench/bench_fork_cost.py [--rounds 7] [--children 150] [--python PATH] [--parts]
                                              [--against REVISION ...]

Runs bench/fork_children.py (children forked and joined one at a time, so that each figure
divides exactly by child and no two processes compete for a core) under three loads, one after
the other in each round, and prints the median and the minimum of the rounds:

- *bare*: no observer.
- *observed*: the observer loaded as ``proclife trace`` loads it (its sitecustomize, and the
  stack dumps registered: a folder for them named).
- *profile function only*: a do-nothing ``sys.setprofile`` function in every thread and nothing
  else: the floor of any observer built on a global profile function (the observer's hooks on
  3.11 without the C filters). On 3.12+ and under 3.11's frame hook the observer sets no profile
  function; the row shows what one would cost.
- *C profile function only* (where the C filters are built): the C profile filter set in every
  thread with nothing hooked: the floor of the observer's profile function with its filter in C.
- a program's Python before 3.12 only:
  - *frame hook only* (where the C filters are built): their frame evaluation hook installed with
    nothing hooked: the floor of the observer's hooks on 3.11 (its *observed* row).
  - *observed, profile function*: the observer with PROCLIFE_OBSERVER_PROFILE=1, its profile
    function's filter in C: what the frame hook saves.
  - *observed, Python filter*: the observer with PROCLIFE_OBSERVER_FILTER set empty (no C
    filters: a profile function, its filter in Python): what the C filters save.

``--parts`` adds a load per part of the observer: the observer loaded as above with that one
part taken out (PARTS: its events, its hooks on Python functions, on C functions, the events
its audit hook reports, ...), and a column *part's cost*: the observed ratio minus the part's
(what taking the part out saved, in units of the bare total). The parts overlap (the fork and
thread-start events are among the audit events), so their costs do not add up to the whole; a
run without a part observes less and is no trace ``proclife trace`` could decide: it only says
where the time goes. On a shared machine two runs of one load differ by up to 0.1 of the bare
total, more at a high load: a part's cost below that is noise, its page faults are steadier.

``--against REVISION`` adds a load per git revision: the observer (and the trace's
``sitecustomize``) of that revision, loaded as *observed* is: what a change of the observer
saved, measured side by side with the working tree's in the same rounds.

The ratios are the medians, over the rounds, of each load's total (main program + child, per
child) over the bare total of the same round; the loads run in a shuffled order in each round.
bench/bench_trace.py measures the whole traced run in wall time; this one says where, per child,
the fork run's overhead goes, with far less noise from other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proclife.runtime.observer import ENV_FILTER, ENV_PROFILE  # noqa: E402
from proclife.trace.loader import environment, prepare_site  # noqa: E402

PROGRAM = ROOT / "bench" / "fork_children.py"
BOUND = 300.0  # seconds one run may take
PROFILE_ONLY = """import sys, threading
def _nothing(frame, event, arg):
    return None
threading.setprofile(_nothing)
sys.setprofile(_nothing)
"""
# The C filter (observer_filter.c) as every thread's profile function, with nothing hooked: the
# floor of the observer's hooks on 3.11 where the C filter is built (a new thread's first event
# goes through Python once, as the observer's does).
C_PROFILE_ONLY = """import os, sys, threading
from importlib import machinery
_path = os.environ["PROCLIFE_OBSERVER_FILTER"]
_loader = machinery.ExtensionFileLoader("_proclife_filter", _path)
_filter = _loader.create_module(machinery.ModuleSpec("_proclife_filter", _loader, origin=_path))
def _nothing(frame, event, arg):
    return None
_filter.arm(_nothing, "call", "return", "c_call", "c_exception", "c_return")
def _first(frame, event, arg):
    _filter.set_profile(_nothing)
threading.setprofile(_first)
_filter.set_profile(_nothing)
"""
# The C filters' frame evaluation hook (3.11) installed, after its check, with nothing hooked.
FRAME_HOOK_ONLY = """import os
from importlib import machinery
_path = os.environ["PROCLIFE_OBSERVER_FILTER"]
_loader = machinery.ExtensionFileLoader("_proclife_filter", _path)
_filter = _loader.create_module(machinery.ModuleSpec("_proclife_filter", _loader, origin=_path))
def _nothing(*args):
    return None
if not (_filter.frame_check(_nothing) and _filter.frame_hook(*[_nothing] * 6, object())):
    raise SystemExit("the frame hook did not start here")
"""
FIELDS = ("parent_us", "child_us", "parent_faults", "child_faults")
# A part's load: the observer of the site folder imported, ``before`` run, installed (unless
# ``install`` is False), then ``after`` run; ``observer`` is the module. The patches replace
# module globals, which the observer's functions look up at each call.
PART_SITE = """import os, sys
sys.path.insert(0, {site!r})
import _proclife_observer as observer
del sys.path[0]
{before}
{install}
{after}
"""
PARTS: dict[str, tuple[str, str, bool]] = {  # name: (before, after, install)
    "loaded, not installed": ("", "", False),
    "no events written": ("observer._emit = lambda *args, **details: None", "", True),
    "no Python function hooked": ("observer._hook_names = lambda *args, **kwargs: None", "", True),
    "no C function hooked": ("", "observer._C_HOOKS.clear()", True),
    "no waitpid/waitid hook": ("", "observer._C_HOOKS.pop(os.waitpid); observer._C_HOOKS.pop(os.waitid)", True),
    # (on 3.12+ the audit hook also finds the code run later, imports among them, that calls a
    # hooked C function or defines a hooked one: that handler, "exec", stays)
    "no audit event observed": ("", "observer._AUDIT = {key: handler for key, handler in "
                                    "observer._AUDIT.items() if key == 'exec'}", True),
    "no fork event": ("", "observer._AUDIT.pop('os.fork')", True),
    "no thread-start event": ("observer.THREADING.pop('threading:Thread.start', None)",
                              "observer._AUDIT.pop('_thread.start_new_thread'); "
                              "observer._AUDIT.pop('_thread.start_joinable_thread')", True),
    "no stack dumps": ("observer._register_stacks = lambda: None", "", True),
}


def site_at(revision: str, folder: Path) -> Path:
    """A site folder holding the observer and the trace's sitecustomize of a git revision."""
    folder.mkdir(parents=True)
    for source, name in (("runtime/observer.py", "_proclife_observer.py"),
                         ("proclife/trace/sitecustom.py", "sitecustomize.py")):
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{source}"], capture_output=True,
                               text=True, check=False)
        if shown.returncode != 0:
            raise SystemExit(f"--against {revision}: git show {revision}:{source} failed: {shown.stderr.strip()}; "
                             f"name a revision of this repository (git log --oneline)")
        (folder / name).write_text(shown.stdout)
    return folder


def environments(folder: Path, parts: bool = False, against: tuple[str, ...] = (),
                 before_312: bool = False) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROCLIFE_OBSERVER")}
    profile_site = folder / "profile-only"
    profile_site.mkdir()
    stacks = folder / "stacks"
    stacks.mkdir()
    (profile_site / "sitecustomize.py").write_text(PROFILE_ONLY)
    site = prepare_site(folder / "site")
    envs = {
        "bare": base,
        "observed": environment(site, folder / "events.jsonl", base, stacks),
        "profile function only": {**base, "PYTHONPATH": str(profile_site)},
    }
    built = environment(site, folder / "events.jsonl", base, stacks).get(ENV_FILTER)
    if built:
        c_profile_site = folder / "c-profile-only"
        c_profile_site.mkdir()
        (c_profile_site / "sitecustomize.py").write_text(C_PROFILE_ONLY)
        envs["C profile function only"] = {**base, "PYTHONPATH": str(c_profile_site), ENV_FILTER: built}
    if before_312 and built:
        frame_site = folder / "frame-hook-only"
        frame_site.mkdir()
        (frame_site / "sitecustomize.py").write_text(FRAME_HOOK_ONLY)
        envs["frame hook only"] = {**base, "PYTHONPATH": str(frame_site), ENV_FILTER: built}
        envs["observed, profile function"] = environment(site, folder / "events.jsonl",
                                                         {**base, ENV_PROFILE: "1"}, stacks)
    if before_312:
        envs["observed, Python filter"] = environment(site, folder / "events.jsonl", {**base, ENV_FILTER: ""}, stacks)
    for index, (name, (before, after, install)) in enumerate(PARTS.items() if parts else ()):
        part_site = folder / f"part-{index}"
        part_site.mkdir()
        (part_site / "sitecustomize.py").write_text(PART_SITE.format(
            site=str(site.resolve()), before=before, after=after,
            install="observer.install_from_environment()" if install else ""))
        envs[name] = environment(part_site, folder / "events.jsonl", base, stacks)
    for index, revision in enumerate(against):
        site_then = site_at(revision, folder / f"against-{index}")
        envs[f"observed at {revision}"[:26]] = environment(site_then, folder / "events.jsonl", base, stacks)
    return envs


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
    parser.add_argument("--parts", action="store_true", help="a load per part of the observer taken out")
    parser.add_argument("--against", action="append", default=[], metavar="REVISION",
                        help="a load with the observer of this git revision (repeatable)")
    args = parser.parse_args()
    for revision in args.against:
        known = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                               capture_output=True, check=False)
        if known.returncode != 0:
            parser.error(f"--against {revision}: not a revision of this repository; name one of git log --oneline")
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="proclife-bench-fork-") as tmp:
        folder = Path(tmp)
        before_312 = tuple(map(int, version.split(".")[:2])) < (3, 12)  # the frame hook, or a profile function
        envs = environments(folder, args.parts, tuple(args.against), before_312=before_312)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in envs}
        order = random.Random(0)
        for _ in range(args.rounds):
            names = list(envs)
            order.shuffle(names)  # no load always right after another: the machine's drift spread over all
            for name in names:
                results[name].append(run_once(args.python, args.children, envs[name], folder / "events.jsonl"))
    print(f"python {version}, {args.children} fork children one at a time, {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f}; per child: median (minimum); ratios: median of the rounds'")
    print(f"{'load':<26} {'main program us':>17} {'child us':>17} {'main faults':>12} {'child faults':>13} "
          f"{'total / bare':>13}" + (f" {'part' + chr(39) + 's cost':>12}" if args.parts else ""))
    totals = {name: [r["parent_us"] + r["child_us"] for r in rows] for name, rows in results.items()}
    # each round's total over the same round's bare one: slow changes of the machine's load cancel
    ratios = {name: statistics.median(t / b for t, b in zip(values, totals["bare"], strict=True))
              for name, values in totals.items()}
    for name, rows in results.items():
        cells = []
        for key in FIELDS:
            values = [r[key] for r in rows]
            cells.append(f"{statistics.median(values):.0f} ({min(values):.0f})" if key.endswith("us")
                         else f"{statistics.median(values):.0f}")
        print(f"{name:<26} {cells[0]:>17} {cells[1]:>17} {cells[2]:>12} {cells[3]:>13} {ratios[name]:>13.2f}"
              + (f" {ratios['observed'] - ratios[name]:>12.2f}" if name in PARTS else ""))
    for name in (name for name in totals if name.startswith("observed at ")):
        overhead = statistics.median((o - b) / (t - b) for o, t, b in zip(totals["observed"], totals[name],
                                                                            totals["bare"], strict=True))
        print(f"{name[len('observed at '):]}: the working tree's observer costs {overhead:.2f} of its overhead "
              f"over bare (median of the rounds' ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
