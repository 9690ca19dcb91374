"""Which deliberately broken implementations the default ``proclife conform`` catches, and how fast.

    .venv/bin/python bench/broken_catalogue.py [NAME ...] [--runs N]

Runs ``proclife conform --impl examples.broken_impls:NAME`` (default settings) for each broken
implementation, ``--runs`` times, and prints a Markdown table: the exit statuses, the median
wall time, the rules of the first disagreement, and the exit status of the reproducing script that
run wrote (run with the same Python; 1 means it shows the fault without proclife). Exit status 1 is "caught"; 0 is "missed"
(the checker said the implementation agrees); anything else is a harness failure. The
unbroken ``FORK`` context is run first as the baseline: it must agree.
"""

from __future__ import annotations

import argparse
import ast
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "examples" / "broken_impls.py"


def broken_names() -> list[str]:
    """The module-level contexts of examples/broken_impls.py, in file order (FORK, the control, first)."""
    tree = ast.parse(MODULE.read_text())
    names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name) and t.id.isupper() and not t.id.startswith("_")]
    return ["FORK", *(n for n in names if n != "FORK")]


def _default_signals() -> None:
    """The run gets SIGINT and SIGTERM at their defaults, whatever this script inherited (a shell's `&`)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def run_once(name: str, timeout: float) -> tuple[int, float, list[str], list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = [str(Path(sys.executable).with_name("proclife")), "conform", "--impl", f"examples.broken_impls:{name}",
                "--json", str(out), "--repro-dir", str(Path(tmp) / "repro")]
        began = time.monotonic()
        try:
            status = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=timeout,
                                    preexec_fn=_default_signals).returncode
        except subprocess.TimeoutExpired:
            return 124, time.monotonic() - began, [], []
        took = time.monotonic() - began
        rules: list[str] = []
        if out.exists():
            data = json.loads(out.read_text())
            found_all = [d for report in data.get("reports", []) for d in report.get("disagreements", [])]
            for found in found_all[:1]:
                action = found.get("action", {})
                where = f"step {found.get('step')}: {action.get('event')} @ P{action.get('pid')}"
                rules = [where, *found.get("rules", [])]
        scripts = sorted((Path(tmp) / "repro").glob("*.py"))
        replays = [_replay(script, timeout) for script in scripts[:1]]
        return status, took, rules, replays


def _replay(script: Path, timeout: float) -> int:
    """The reproducing script's exit status (124: it did not finish within ``timeout``)."""
    try:
        return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, timeout=timeout,
                              preexec_fn=_default_signals).returncode
    except subprocess.TimeoutExpired:
        return 124


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="broken implementations to run (default: all)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    names = args.names or broken_names()
    print("| implementation | exit statuses | verdict | median s | reproducer exits | first disagreement |")
    print("|---|---|---|---|---|---|")
    for name in names:
        results = [run_once(name, args.timeout) for _ in range(args.runs)]
        statuses = [s for s, _, _, _ in results]
        verdict = "caught" if all(s == 1 for s in statuses) else (
            "missed" if all(s == 0 for s in statuses) else "mixed / harness failure")
        if name == "FORK":
            verdict = "agrees (control)" if all(s == 0 for s in statuses) else "control FAILED"
        rules = next((r for _, _, r, _ in results if r), [])
        median = statistics.median(t for _, t, _, _ in results)
        replays = ", ".join(str(code) for _, _, _, codes in results for code in codes) or "-"
        print(f"| `{name}` | {', '.join(map(str, statuses))} | {verdict} | {median:.1f} | {replays} | {', '.join(rules)} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
