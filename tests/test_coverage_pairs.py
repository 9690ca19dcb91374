"""Coverage per (rule, observed consequence), derived from the model, and `conform --draw`.

The consequences are the model's (model/explore/consequences.py): checked here on model steps
whose facts are known; the painting on a report with a known trace, read back from the .dot;
the real run end to end once (fork, a short directed trace).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from proclife.conformance.coverage import painting, record_pairs, unreached_pairs
from proclife.conformance.report import Disagreement, Report, StepRecord
from proclife.conformance.runner import run_trace
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.extend import load
from proclife.model.core.semantics import Action
from proclife.model.core.system import Config, System
from proclife.model.diagrams.charts import chart
from proclife.model.diagrams.paint import paint
from proclife.model.diagrams.render import to_graphviz
from proclife.model.explore.consequences import consequences, pair_key, spec_candidates
from proclife.runtime.impls import resolve_impl

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Engine(load().spec, load().semantics, Config("fork", (3, 11)))
# The main program starts a live daemonic child, then returns: its exit sequence meets that child.
DAEMON_THEN_RETURN = [
    Action("create_child", 0, None, True),
    Action("start", 1),
    Action("target_return", 0),
]


def follow(actions: list[Action]) -> list[tuple[System, Action, object]]:
    system, out = System.initial(), []
    for action in actions:
        t = ENGINE.predict(system, action)[0]
        out.append((system, action, t))
        system = t.system
    return out


def step_pairs(actions: list[Action]) -> list[set[tuple[str, str]]]:
    return [set(consequences(ENGINE, s, a, t)) for s, a, t in follow(actions)]  # type: ignore[arg-type]


def test_a_call_is_paired_with_its_rule_its_handle_state_and_what_the_caller_saw() -> None:
    pairs = step_pairs([Action("create_child", 0, None, False), Action("sentinel", 1), Action("start", 1),
                        Action("start", 1)])
    assert pairs[1] == {("handle.sentinel_initial", "call:sentinel@initial->ValueError: process not started")}
    assert pairs[2] == {("handle.start", "call:start@initial->None")}
    assert pairs[3] == {("handle.start_twice", "call:start@started->AssertionError: cannot start a process twice")}


def test_the_exit_sequence_is_seen_phase_by_phase_with_what_is_alive_around_it() -> None:
    *_, last = step_pairs(DAEMON_THEN_RETURN)
    # the daemonic child is alive when the main program's phases begin, and SIGTERM ends it
    assert ("process.target_return_main", "target_end:target_return->0") in last
    assert ("process.main_joins_threads",
            "exit_phase:terminate_daemon_children[daemon=1,nondaemon=0,threads=0]") in last
    assert ("process.sigterm_default", "ended:running.runnable->-15") in last
    assert ("process.main_joins_children", "ended:exiting.join_children->0") in last
    entered = [c for _, c in last if c.startswith("exit_phase:join_children")]
    assert entered == ["exit_phase:join_children[daemon=0,nondaemon=0,threads=0]"]  # the child is gone by then


def test_a_target_whose_process_waits_says_in_which_phase_and_its_status_comes_when_it_ends() -> None:
    pairs = step_pairs([Action("create_thread", 0, None, False), Action("thread_start", 0, 0),
                        Action("target_return", 0), Action("thread_finish", 0, 0)])
    assert ("process.target_return_main", "target_end:target_return->waits(join_threads)") in pairs[2]
    assert ("process.main_joins_threads",
            "exit_phase:terminate_daemon_children[daemon=0,nondaemon=0,threads=0]") in pairs[3]
    assert ("process.main_joins_children", "ended:exiting.join_children->0") in pairs[3]


def test_the_spec_names_pairs_the_search_must_explain() -> None:
    named = spec_candidates(ENGINE)
    assert ("handle.close_running", "call:close@started->ValueError: Cannot close a process while it is still "
            "running. You should first call join() or terminate().") in named
    daemon_phases = {c for r, c in named if r == "process.main_joins_threads" and "[daemon=1" in c}
    assert len(daemon_phases) == 4  # every combination of the other two flags
    report_pairs = {"process.main_joins_threads => " + c for c in daemon_phases}
    why = unreached_pairs(ENGINE, Bounds(), {}, set(list(report_pairs)[:1]), {}, True)
    reasons = {why[k].split(" (")[0] for k in report_pairs}
    assert reasons == {"reachable in the model; not taken within this run's budget",
                       "unreachable in the model within the bounds"}


def known_report() -> Report:
    """A report of the DAEMON_THEN_RETURN trace, and a disagreement at a close() after it."""
    report = Report("fork", "fork", "3.11")
    records = [StepRecord(a, t.observed, t.rules, s, t.system) for s, a, t in follow(DAEMON_THEN_RETURN)]  # type: ignore[attr-defined]
    for record in records:
        for rule in record.rules:
            report.coverage[rule] = report.coverage.get(rule, 0) + 1
        for key in record_pairs(ENGINE, record):
            report.pairs[key] = report.pairs.get(key, 0) + 1
    before = records[-1].after
    assert before is not None
    action = Action("close", 1)
    report.disagreements.append(Disagreement("fork", records, action, before, ENGINE.predict(before, action),
                                             "ValueError: boom", []))
    return report


def edge_attrs(dot: str, row: str) -> str:
    """The statement of the one edge with a label row beginning with ``row`` (a tooltip spans lines)."""
    statements = [stmt for stmt in re.split(r"\n\t(?=\")", dot) if " -> " in stmt.split("[")[0]]
    found = [stmt for stmt in statements if f'label="{row}' in stmt or f"\\l{row}" in stmt]
    assert len(found) == 1, f"edges with a row {row!r}: {found}"
    return found[0]


def test_painting_puts_counts_on_edges_fades_the_untaken_and_draws_the_trace_red() -> None:
    report = known_report()
    coverage = painting(report)
    dot = to_graphviz(paint(chart("process", load()), coverage)).source
    assert "launch / inherit_sigterm ×1" in dot
    taken = edge_attrs(dot, "launch")
    assert "tooltip=" in taken
    untaken = edge_attrs(dot, "block")  # no step blocked a process
    assert "×0" in untaken and "#c8ced4" in untaken and "dashed" in untaken
    returned = edge_attrs(dot, "target_return [is_main]")
    assert "step 3" in returned and "#b3261e" in returned and "penwidth=3" in returned
    assert "target_end:target_return-&gt;0 ×1" in returned or "target_end:target_return->0 ×1" in returned
    handle = to_graphviz(paint(chart("handle", load()), coverage)).source
    # close() in the state the disagreement happened: the expected rule's row carries the last step's number
    assert re.search(r"close ?→ None ×0  ◀ step 4", handle)


def test_an_unwritable_draw_folder_is_refused_before_any_run(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere a mode forbids: a folder under a regular file cannot be made
        (tmp_path / "a-file").write_text("")
        target = tmp_path / "a-file" / "out"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out"
    out = subprocess.run([sys.executable, "-m", "proclife", "conform", "--impl", "fork", "--draw", str(target),
                          "--repro-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--draw" in out.stderr + out.stdout
    assert "directed run" not in out.stdout + out.stderr
    assert not (tmp_path / "a-file").is_dir() and not target.exists()


def test_a_real_run_counts_the_pairs_it_observed(tmp_path: Path) -> None:
    records = run_trace(ENGINE, resolve_impl("fork"), DAEMON_THEN_RETURN)
    observed = {key for record in records for key in record_pairs(ENGINE, record)}
    assert pair_key(("process.main_joins_threads",
                     "exit_phase:terminate_daemon_children[daemon=1,nondaemon=0,threads=0]")) in observed
    assert pair_key(("handle.start", "call:start@initial->None")) in observed


def test_the_summary_shows_both_coverages_and_each_reachable_pair_not_taken_whole() -> None:
    from io import StringIO

    from rich.console import Console

    from proclife.commands.conform import render
    from proclife.conformance.coverage import UNTAKEN

    report = known_report()
    report.disagreements.clear()
    report.pairs_reachable = len(report.pairs) + 1
    missed = "process.main_joins_threads => exit_phase:terminate_daemon_children[daemon=1,nondaemon=1,threads=0]"
    report.pairs_unreached = {missed: UNTAKEN, "handle.kill => call:kill@started->None": "unreachable in the model x"}
    out = StringIO()
    render(report, Console(file=out, width=400), len(ENGINE.spec.rules))
    text = out.getvalue()
    assert f"rule x consequence pairs covered {len(report.pairs)}/{len(report.pairs) + 1} reachable" in text
    assert f"pair not taken: {missed}: {UNTAKEN}" in text  # the flags in brackets survive rich's markup
    assert "1 pairs not taken: unreachable in the model x" in text
