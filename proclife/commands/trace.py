"""``proclife trace [--out DIR] [--json FILE] [--kill-after S] -- python PROGRAM.py ARGS...``, and ``--check FILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from proclife.exits import DISAGREE, HARNESS, OK
from proclife.model.profiles.registry import resolve_profile
from proclife.outputs import check_file, check_folder, write_text
from proclife.publish import render, write_all
from proclife.trace.build import build
from proclife.trace.cmdline import check_command
from proclife.trace.decide import Decision, decide
from proclife.trace.drawings import painted, timeline_files
from proclife.trace.errors import TraceFailed, TraceUsageError
from proclife.trace.findings import findings
from proclife.trace.record import record
from proclife.trace.schema import problems, read_trace
from proclife.trace.summary import summary
from proclife.trace.watch import Explainer


def _status(doc: dict[str, Any]) -> int:
    """0 when the program ended by itself (whatever its own status) and the model allows its run,
    1 when the model rejects the run, 3 when the trace is incomplete."""
    if doc["program"]["incomplete"]:
        return HARNESS
    return DISAGREE if doc.get("decision", {}).get("verdict") == "rejected" else OK


def _draw(doc: dict[str, Any], decision: Decision, profile: str | None, draw: Path | None) -> None:
    """--draw: the timeline, and the diagrams painted with the rules the run took (SVG and .dot), all or none."""
    if draw is None:
        return
    files = timeline_files(doc)
    for name, item in painted(decision, profile).items():
        for fmt in ("svg", "dot"):
            files[f"rules.{name}.{fmt}"] = render(item, fmt)
    write_all(files, draw, "--draw")


def _run(program: tuple[str, ...], out: Path, json_file: Path | None, kill_after: float | None,
         profile: str | None, draw: Path | None, explain_after: float | None = None) -> int:
    command = check_command(program)
    if profile is not None:
        resolve_profile(profile)  # a profile that does not exist is refused before the program runs
    check_folder(out, "--out")
    if json_file is not None:
        check_file(json_file, "--json")
    if draw is not None:
        check_folder(draw, "--draw")
    explainer = None if explain_after is None else Explainer(explain_after, profile)
    rec = record(command, out, kill_after, explainer)
    doc = build(rec)
    if explainer is not None:
        doc["explanations"] = explainer.explained
    doc["findings"] = findings(doc)
    decision = decide(doc, profile)
    doc["decision"] = decision.as_json()
    found = problems(doc)
    if found:
        raise TraceFailed(f"the recorded trace breaks its own schema: {found[0]}")
    text = json.dumps(doc, indent=1)
    write_text(out / "trace.json", text, "--out")
    if json_file is not None:
        write_text(json_file, text, "--json")
    _draw(doc, decision, profile, draw)
    click.echo(summary(doc, str(json_file or out / "trace.json")), err=True)
    if not any(p["role"] == "main" and p["first_event"] is not None for p in doc["processes"]):
        raise TraceFailed(f"no event from the main process (pid {rec.main_pid}): {command[0]} did not load the "
                          "observer; trace a Python 3.11+ interpreter running the program")
    return _status(doc)


def _check(path: Path, profile: str | None, draw: Path | None) -> int:
    if draw is not None:
        check_folder(draw, "--draw")
    doc = read_trace(path)
    doc["findings"] = findings(doc)
    decision = decide(doc, profile)
    doc["decision"] = decision.as_json()
    _draw(doc, decision, profile, draw)
    click.echo(summary(doc, str(path)), err=True)
    return _status(doc)


@click.command("trace", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("proclife-out"),
              show_default=True, help="Folder for the observer's events (events.jsonl) and the trace (trace.json).")
@click.option("--json", "json_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the trace here too.")
@click.option("--kill-after", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="SIGKILL the whole traced tree if the main process has not ended this long after its start.")
@click.option("--explain-after", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Say what holds each process still alive this long after its target or main module returned "
                   "(its exit phase, what it waits for, its threads' stacks).")
@click.option("--check", "check_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE", help="Read a recorded trace back, validate it and print its summary; runs nothing.")
@click.option("--profile", "profile", metavar="NAME|MODULE:ATTR", default=None,
              help="Decide the trace by this profile's model (default: the standard library's for its start method).")
@click.option("--draw", "draw", type=click.Path(path_type=Path, file_okay=False), default=None, metavar="DIR",
              help="Draw the run here: its timeline (timeline.svg) and the model's diagrams painted with the rules "
                   "it took (rules.*.svg, .dot); all written or none.")
@click.argument("program", nargs=-1, type=click.UNPROCESSED)
def command(out: Path, json_file: Path | None, kill_after: float | None, explain_after: float | None,
            check_path: Path | None,
            profile: str | None, draw: Path | None, program: tuple[str, ...]) -> None:
    """Run a Python program with the observer in every process it starts, and say how each one ended.

    The program (after --) runs under its own interpreter, unchanged: its stdin, stdout, stderr and
    exit status pass through; the summary, its findings and the trace decided against the model go
    to stderr. Exit status: 0 when the program ended by itself and the model allows its run, 1 when
    the model rejects it, 3 when it was killed (--kill-after) or the tracing failed.
    """
    if check_path is not None:
        if program:
            raise TraceUsageError("--check reads a recorded trace and runs nothing: drop the program, or --check")
        raise SystemExit(_check(check_path, profile, draw))
    raise SystemExit(_run(program, out, json_file, kill_after, profile, draw, explain_after=explain_after))
