"""``proclife trace --draw DIR``: the timeline has a lane per process and thread and shades the exit
phases, the painted diagrams carry the rules the run took, the pictures are the same for the same
trace, and a DIR that cannot be written is refused before the program runs.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from proclife.cli import main
from proclife.exits import USAGE
from proclife.model.core.extend import load
from proclife.model.diagrams.charts import chart
from proclife.trace.decide import decide
from proclife.trace.drawings import coverage, painted
from proclife.trace.timeline import RUNNING, STEP, Lane, Mark, Span, Timeline, timeline
from proclife.trace.timeline_svg import to_svg, windows
from tests.test_trace import BOUND, PROGRAMS, assert_none_left

SVG = "{http://www.w3.org/2000/svg}"
FAMILY = textwrap.dedent("""
    import multiprocessing as mp
    import threading

    def work():
        helper = threading.Thread(target=int, name="Helper")
        helper.start()
        helper.join()

    if __name__ == "__main__":
        done = threading.Event()
        writer = threading.Thread(target=done.wait, args=(30,), name="Writer")
        writer.start()
        worker = mp.get_context("fork").Process(target=work, name="Worker")
        worker.start()
        worker.join(30)
        done.set()
""")


def draw(tmp_path: Path, *program: str) -> tuple[Path, dict[str, Any]]:
    """Trace ``program`` with ``--draw``; the drawing folder and the trace."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, pictures, trace = tmp_path / "out", tmp_path / "pictures", tmp_path / "trace.json"
    result = subprocess.run([sys.executable, "-m", "proclife", "trace", "--out", str(out), "--json", str(trace),
                             "--draw", str(pictures), "--", *program], capture_output=True, text=True,
                            timeout=BOUND, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(trace.read_text())
    assert_none_left(doc)
    return pictures, doc


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """daemon_child_killed traced under fork, with its pictures."""
    return draw(tmp_path_factory.mktemp("killed"), sys.executable,
                str(PROGRAMS / "daemon_child_killed.py"), "fork")


def lanes(svg: Path) -> dict[str, ET.Element]:
    root = ET.parse(svg).getroot()
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"}


def classes(lane: ET.Element) -> set[str]:
    return {r.get("class", "") for r in lane.iter(f"{SVG}rect")}


def texts(lane: ET.Element) -> list[str]:
    return [t.text or "" for t in lane.iter(f"{SVG}text")]


def test_a_lane_per_process_and_thread_with_the_exit_phases_shaded(tmp_path: Path) -> None:
    program = tmp_path / "family.py"
    program.write_text(FAMILY)
    pictures, _ = draw(tmp_path, sys.executable, str(program))
    found = lanes(pictures / "timeline.svg")
    assert set(found) == {"P0", "P0/Writer", "P1", "P1/Helper"}
    assert texts(found["P0/Writer"])[0].strip() == "└ Writer (non-daemon)"
    assert texts(found["P1"])[0].startswith("P1 Worker (fork)")
    main_lane = classes(found["P0"])
    assert {"running", "step:threading._shutdown", "step:util._exit_function", "join"} <= main_lane
    assert "joined P1 (0)" in texts(found["P0"])
    assert "ended: exit 0" in texts(found["P1"])


def test_the_events_that_decided_the_end_and_the_finding_are_marked(killed: tuple[Path, dict[str, Any]]) -> None:
    found = lanes(killed[0] / "timeline.svg")
    assert set(found) == {"P0", "P1"}
    assert {"terminate P1", "ended: exit 0"} <= set(texts(found["P0"]))  # a join only if P1 was not yet polled dead
    child = set(texts(found["P1"]))
    assert {"SIGTERM from P0", "ended: signal -15", "⚠ daemon_child_terminated"} <= child
    assert "unobserved" in classes(found["P1"])  # killed by the signal: its end is known from its reaper


def test_painted_diagrams_carry_the_rules_the_run_took(killed: tuple[Path, dict[str, Any]]) -> None:
    pictures, doc = killed
    counts = coverage(decide(doc)).counts
    assert counts["process.main_terminates_daemons"] == 1
    assert counts["process.sigterm_default"] == 1
    assert "process.sigkill" not in counts
    dot = re.sub(r"\\l\s+", " ", (pictures / "rules.process.dot").read_text())
    edges = chart("process", load()).edges
    for rule, times in (("process.main_terminates_daemons", 1), ("process.sigkill", 0)):
        edge = next(e for e in edges if rule in e.rules)
        row = edge.label[edge.rules.index(rule)]
        assert f"{row} ×{times}" in dot, rule
    assert (pictures / "rules.process.svg").read_bytes().startswith(b"<?xml")
    assert {p.name for p in pictures.iterdir()} == {f"rules.{m}.{f}" for m in ("handle", "process", "thread")
                                                    for f in ("svg", "dot")} | {"timeline.svg", "timeline.json"}


def test_the_same_trace_gives_the_same_pictures(killed: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    pictures, _ = killed
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(killed[1]))
    runner = CliRunner()
    for again in ("a", "b"):
        result = runner.invoke(main, ["trace", "--check", str(trace), "--draw", str(tmp_path / again)])
        assert result.exit_code == 0, result.output
    for path in pictures.iterdir():
        assert (tmp_path / "a" / path.name).read_bytes() == path.read_bytes(), path.name
        assert (tmp_path / "b" / path.name).read_bytes() == path.read_bytes(), path.name


def test_an_unwritable_draw_folder_is_exit_2_before_the_program_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    program = tmp_path / "touch.py"
    program.write_text(f"open({str(marker)!r}, 'w').close()\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    runner = CliRunner()
    result = runner.invoke(main, ["trace", "--out", str(tmp_path / "out"), "--draw", str(blocker / "pictures"),
                                  "--", sys.executable, str(program)])
    assert result.exit_code == USAGE, result.output
    assert "--draw" in result.output
    assert not marker.exists()
    check = runner.invoke(main, ["trace", "--check", str(tmp_path / "none.json"), "--draw", str(blocker / "p")])
    assert check.exit_code == USAGE
    assert "--draw" in check.output


def test_short_exits_get_an_enlarged_panel_of_their_own() -> None:
    ms = 1_000_000
    running = Span(0, 100 * ms, RUNNING, "running")
    step = Span(100 * ms, 102 * ms, STEP + "util._exit_function", "util._exit_function")
    lane = Lane("P0", "P0 main", 1, None, (running, step), (Mark(10 * ms, "event", "start P1"),
                                                            Mark(101 * ms, "event", "terminate P1")))
    whole, enlarged = windows(Timeline("t", 0, 110 * ms, (lane,), ()))
    assert (whole.begin, whole.end) == (0, 110 * ms)
    assert enlarged.begin <= 100 * ms < 102 * ms <= enlarged.end < 110 * ms
    clipped = enlarged.clip(lane)
    assert [m.label for m in clipped.marks] == ["terminate P1"]
    assert clipped.spans[0].begin == enlarged.begin and clipped.spans[1] == step
    svg = ET.fromstring(to_svg(Timeline("t", 0, 110 * ms, (lane,), ())))
    assert [g.get("id") for g in svg.iter(f"{SVG}g")] == ["P0", "enlarged:P0"]
    long_exit = replace(lane, spans=(Span(0, 10 * ms, RUNNING, "running"), replace(step, begin=10 * ms)))
    assert len(windows(Timeline("t", 0, 110 * ms, (long_exit,), ()))) == 1


def test_a_rejected_trace_is_painted_with_its_path(killed: tuple[Path, dict[str, Any]]) -> None:
    doc = copy.deepcopy(killed[1])
    for event in doc["events"]:
        if event["kind"] in ("child_status", "child_joined"):
            event["details"]["returncode"] = 0  # yet the main program's exit SIGTERMed it
    for proc in doc["processes"]:
        if proc["role"] == "child":
            proc["exit_status"] = 0
    decision = decide(doc)
    assert decision.verdict == "rejected"
    painting = coverage(decision)
    assert "process.sigterm_default" in painting.trace[-1]  # what brought P1 to its end, against exit code 0
    assert len(painting.trace) == decision.matched + 1
    tones = {e.tone for e in painted(decision)["process"].edges}
    assert "path" in tones


def test_a_call_that_never_returned_lasts_until_the_kill() -> None:
    def event(kind: str, begin: int, end: int | None = None, **details: Any) -> dict[str, Any]:
        return {"pid": 7, "tid": 7, "thread": "MainThread", "thread_daemon": False, "kind": kind,
                "begin": begin, "end": end, "details": details}

    main = {"pid": 7, "ppid": 1, "role": "main", "started_by": None, "name": None, "class": None,
            "start_method": None, "daemon": None, "first_event": 0, "last_event": 30, "ended": "killed",
            "exit_status": -9, "reaped_by": "tracer", "adopted_by": None}
    doc = {"command": ["python", "hang.py"], "python": "3.11.7", "started": 0, "ended": 1000,
           "program": {"pid": 7}, "processes": [main], "threads": [], "findings": [],
           "events": [event("observer_installed", 0), event("exit_step_begin", 20, step="util._exit_function"),
                      event("child_join", 30, child=8, timeout=None)]}
    (lane,) = timeline(doc).lanes
    spans = {s.kind: (s.begin, s.end) for s in lane.spans}
    assert spans == {"running": (0, 20), "step:util._exit_function": (20, 1000), "join": (30, 1000)}
    assert [m.label for m in lane.marks if m.kind == "end"] == ["ended: killed by the tracer (--kill-after) -9"]
