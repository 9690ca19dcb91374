"""Every bad input proclife is known to meet, run, with its exit status and message: docs/bad-inputs.md.

``python tests/bad_inputs.py`` rewrites the table; ``tests/test_bad_inputs.py`` checks that
the committed table is what a fresh run prints, so neither the list nor a message can drift.
Each case runs in-process (click's CliRunner) in one scratch folder, before any real process
would start; paths in messages are written as ``<tmp>`` (the scratch folder) and ``<repo>``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "bad-inputs.md"

# The user's modules every case may name (imported from the scratch folder, the current folder).
EXTENSIONS = """
from dataclasses import replace
from proclife.model.core.base import BASE
from proclife.model.core.extend import Extension
from proclife.model.core.spec import Rule, Source

BLOCK = BASE.rule("process.block")
NUMBER = 42

def factory() -> Extension:
    raise RuntimeError("the factory broke")

def good_factory() -> Extension:
    return Extension(name="fine", doc="made by a factory")

def not_a_factory():
    raise AssertionError("proclife called a function that does not say it returns an Extension")

STRING_RULE = Extension(name="s", doc="a rule id where a Rule belongs", rules=("process.block",))
TWICE = Extension(name="twice", doc="one rule twice", rules=(BLOCK, replace(BLOCK, dst="running.runnable")))
RAISES = Extension(name="raises", doc="a guard that raises", rules=(replace(BLOCK, when=("boom",)),),
                   guards={"boom": lambda system, ctx: 1 / 0})
ARITY = Extension(name="arity", doc="a guard with one parameter", rules=(replace(BLOCK, when=("lonely",)),),
                  guards={"lonely": lambda system: True})
EFFECT_ARITY = Extension(name="effect_arity", doc="an effect with two parameters",
                         rules=(replace(BLOCK, effects=("two",)),), effects={"two": lambda system, ctx: []})
EFFECT_RAISES = Extension(name="effect_raises", doc="an effect that raises",
                          rules=(replace(BLOCK, effects=("bad",)),),
                          effects={"bad": lambda system, ctx, arg: {}["missing"]})
NOWHERE = Extension(name="nowhere", doc="a rule to a state nobody declares",
                    rules=(replace(BLOCK, id="process.to_nowhere", dst="running.nowhere"),))
NO_GUARD = Extension(name="no_guard", doc="a guard that names nothing", rules=(replace(BLOCK, when=("moon_is_full",)),))
REMOVE_UNKNOWN = Extension(name="remove_unknown", doc="removes a rule the model lacks", remove=("process.fly",))
NO_EVENT = Extension(name="no_event", doc="a rule on an event nobody declares",
                     rules=(Rule("process.jump", "process", "jump", ("running.runnable",), None,
                                 Source("bad_inputs", "extension")),))
"""
IMPLS = """
class NoProcess:
    pass

NO_PROCESS = NoProcess()
"""
FILES: dict[str, str] = {
    "exts.py": EXTENSIONS,
    "impls.py": IMPLS,
    "broken.py": "raise RuntimeError('this module does not import')\n",
    "a_file": "not a folder\n",
    "NOTES.md": "# notes without the generated blocks\n",
    "junk.json": "{",
    "no_violation.json": json.dumps({"violations": []}),
    "no_disagreement.json": json.dumps({"reports": [{"disagreements": []}]}),
    "not_steps.json": json.dumps({"steps": 3}),
}
CHILD: list[dict[str, object]] = [{"event": "create_child", "pid": 0, "arg": False}, {"event": "start", "pid": 1}]
PATHS: dict[str, list[dict[str, object]]] = {
    "impossible.json": [{"event": "start", "pid": 1}],
    "thread_x.json": [*CHILD, {"event": "thread_start", "pid": 1, "thread": "x"}],
    "pid_one.json": [*CHILD, {"event": "start", "pid": "one"}],
    "arg_text.json": [*CHILD, {"event": "set_daemon", "pid": 1, "arg": "yes"}],
    "exit_huge.json": [*CHILD, {"event": "sys_exit", "pid": 1, "arg": 2**40}],
    "key_typo.json": [{"event": "create_thread", "pid": 0, "arg": False, "thred": 0}],
    "thread_missing.json": [{"event": "create_thread", "pid": 0, "arg": False}, {"event": "thread_start", "pid": 0}],
    "actor_signal.json": [{"event": "sigterm", "pid": 0, "actor": "main"}],
    "actor_blocked.json": [*CHILD[:1], {"event": "block", "pid": 0}, {"event": "start", "pid": 1, "actor": "main"}],
    "event_unknown.json": [{"event": "fly", "pid": 0}],
    "block.json": [{"event": "block", "pid": 0}],
    "child.json": CHILD,
}


@dataclass(frozen=True)
class Case:
    """One bad input: what it tries, and the command line that tries it (run in the scratch folder)."""

    what: str
    argv: tuple[str, ...]


def case(what: str, *argv: str) -> Case:
    return Case(what, argv)


CASES: tuple[Case, ...] = (
    # the command line itself
    case("an unknown command", "frobnicate"),
    case("an unknown option", "model", "--colour"),
    # model
    case("--extend without a colon", "model", "--extend", "nocolon"),
    case("--extend of a module that does not exist", "model", "--extend", "no_such_module_xyz:EXT"),
    case("--extend of a module that raises on import", "model", "--extend", "broken:EXT"),
    case("--extend of an attribute the module lacks", "model", "--extend", "exts:NOPE"),
    case("--extend of a callable not declared as a factory", "model", "--extend", "sys:exit"),
    case("--extend of a function without `-> Extension`", "model", "--extend", "exts:not_a_factory"),
    case("--extend of a factory that raises", "model", "--extend", "exts:factory"),
    case("--extend of a number", "model", "--extend", "exts:NUMBER"),
    case("an extension whose rules hold a string", "model", "--extend", "exts:STRING_RULE"),
    case("an extension with two rules of one id", "model", "--extend", "exts:TWICE"),
    case("a guard with the wrong arity", "model", "--extend", "exts:ARITY"),
    case("an effect with the wrong arity", "model", "--extend", "exts:EFFECT_ARITY"),
    case("a rule to a state nobody declares", "model", "--extend", "exts:NOWHERE"),
    case("a rule with a guard that names nothing", "model", "--extend", "exts:NO_GUARD"),
    case("a rule on an event nobody declares", "model", "--extend", "exts:NO_EVENT"),
    case("removing a rule the model lacks", "model", "--extend", "exts:REMOVE_UNKNOWN"),
    case("--update-readme of a file without the markers", "model", "--update-readme", "NOTES.md"),
    case("--update-readme of a missing file", "model", "--update-readme", "missing.md"),
    # diagrams
    case("an unknown diagram format", "diagrams", "--out", "out", "--format", "svg,gif"),
    case("an output folder that cannot be made", "diagrams", "--out", "/proc/nope"),
    case("an output folder under a file", "diagrams", "--out", "a_file/pics"),
    case("diagrams of a bad extension", "diagrams", "--out", "out", "--extend", "exts:NOWHERE"),
    # explore
    case("negative bounds", "explore", "--procs", "-1"),
    case("a tree of depth 0", "explore", "--depth", "0"),
    case("a state limit of 0", "explore", "--max-states", "0"),
    case("an unknown scope", "explore", "--scope", "everything"),
    case("an unknown start method", "explore", "--start-method", "vfork"),
    case("a Python that is not X.Y", "explore", "--python", "three.eleven"),
    case("a Python older than the model", "explore", "--python", "2.7"),
    case("--check spin with --engine spin", "explore", "--procs", "1", "--engine", "spin", "--check", "spin"),
    case("--json into a missing folder", "explore", "--json", "missing-folder/r.json"),
    case("--json onto a folder", "explore", "--json", "."),
    case("--draw under a file", "explore", "--draw", "a_file/pics"),
    case("a guard that raises while exploring", "explore", "--procs", "0", "--threads", "0", "--scope", "full",
         "--extend", "exts:RAISES"),
    case("an effect that raises while exploring", "explore", "--procs", "0", "--threads", "0", "--scope", "full",
         "--extend", "exts:EFFECT_RAISES"),
    # conform
    case("an unknown implementation", "conform", "--impl", "threads"),
    case("an unknown start method of a library", "conform", "--impl", "billiard/vfork"),
    case("--impl module:attr without a module", "conform", "--impl", ":ctx"),
    case("--impl of a module that does not exist", "conform", "--impl", "no_such_module_xyz:ctx"),
    case("--impl of a module that raises on import", "conform", "--impl", "broken:ctx"),
    case("--impl of an object without Process", "conform", "--impl", "impls:NO_PROCESS"),
    case("an unknown profile", "conform", "--impl", "fork", "--profile", "pypy"),
    case("--profile of a module that raises on import", "conform", "--profile", "broken:P"),
    case("--profile of something not a Profile", "conform", "--profile", "exts:NUMBER"),
    case("conform --json into a missing folder", "conform", "--json", "missing-folder/r.json"),
    case("conform --repro-dir under a file", "conform", "--repro-dir", "a_file/repro"),
    case("conform --draw under a file", "conform", "--draw", "a_file/drawings"),
    case("a negative time budget", "conform", "--max-seconds", "-1"),
    # replay
    case("a path file that does not exist", "replay", "missing.json"),
    case("a path file that is not JSON", "replay", "junk.json"),
    case("a path file that is not a list of steps", "replay", "not_steps.json"),
    case("an exploration without a violation", "replay", "no_violation.json"),
    case("a conformance report without a disagreement", "replay", "no_disagreement.json"),
    case("a step the model does not allow there", "replay", "impossible.json"),
    case("a step whose thread is not a number", "replay", "thread_x.json"),
    case("a step whose pid is not a number", "replay", "pid_one.json"),
    case("a step whose argument is not of its type", "replay", "arg_text.json"),
    case("sys.exit of an int past a C int", "replay", "exit_huge.json"),
    # predict
    case("predict: a step with an unknown key", "predict", "key_typo.json"),
    case("predict: a thread event without its thread", "predict", "thread_missing.json"),
    case("predict: an actor for a signal", "predict", "actor_signal.json"),
    case("predict: an actor that cannot act there", "predict", "actor_blocked.json"),
    case("predict: sys.exit of an int past a C int", "predict", "exit_huge.json"),
    case("predict: a Python the model has no rules for", "predict", "child.json", "--python", "3.9"),
    case("predict: a path file that does not exist", "predict", "missing.json"),
    case("a step of an unknown event", "replay", "event_unknown.json"),
    case("a step whose guard raises", "replay", "block.json", "--extend", "exts:RAISES"),
    case("a step whose effect raises", "replay", "block.json", "--extend", "exts:EFFECT_RAISES"),
    case("replay --impl of a module that raises on import", "replay", "child.json", "--impl", "broken:ctx"),
    case("replay --profile of a module that raises on import", "replay", "child.json", "--profile", "broken:P"),
    case("a wait bound below half a second", "replay", "child.json", "--bound", "0.1"),
    case("replay --repro-dir under a file", "replay", "child.json", "--repro-dir", "a_file/repro"),
    # diff and demo
    case("diff of an unknown profile", "diff", "pypy", "cpython"),
    case("diff into a folder that cannot be made", "diff", "cpython", "billiard", "--out", "/proc/nope"),
    case("demo of an unknown implementation", "demo", "--impl", "threads", "--out", "out"),
    case("demo into a folder under a file", "demo", "--out", "a_file/out"),
    # trace (each refused before any process starts)
    case("trace of no program", "trace"),
    case("trace of an interpreter that ignores PYTHONPATH (-E)", "trace", "--", "python", "-E", "app.py"),
    case("trace of an interpreter that skips site (-S, here among other flags)", "trace", "--", "python", "-bS", "app.py"),
    case("trace --out under a file", "trace", "--out", "a_file/out", "--", "python", "app.py"),
    case("trace --kill-after of zero seconds", "trace", "--kill-after", "0", "--", "python", "app.py"),
    case("trace --check of a file that is not JSON", "trace", "--check", "junk.json"),
    case("trace --check of JSON that is not a trace", "trace", "--check", "not_steps.json"),
    case("trace --check of a missing file", "trace", "--check", "missing.json"),
    case("trace --check with a program too", "trace", "--check", "junk.json", "--", "python", "app.py"),
)


@dataclass(frozen=True)
class Outcome:
    """What a case did: its exit status, how many lines it wrote to stderr, and the last of them."""

    status: int
    lines: int
    message: str


@contextmanager
def scratch() -> Iterator[Path]:
    """A folder holding every file the cases name, made the current folder for the run."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="proclife-bad-") as name:
        folder = Path(name)
        for file, text in FILES.items():
            (folder / file).write_text(text)
        for file, steps in PATHS.items():
            (folder / file).write_text(json.dumps(steps))
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(old)


def placeholders(text: str, folder: Path) -> str:
    for path, mark in ((folder.resolve(), "<tmp>"), (folder, "<tmp>"), (ROOT, "<repo>")):
        text = text.replace(str(path), mark)
    return text


def run(case: Case, folder: Path) -> Outcome:
    from click.testing import CliRunner

    from proclife.cli import main

    result = CliRunner().invoke(main, list(case.argv))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    message = placeholders(lines[-1] if lines else result.stdout.strip().splitlines()[-1], folder)
    return Outcome(result.exit_code, len(lines), message)


def outcomes() -> list[tuple[Case, Outcome]]:
    with scratch() as folder:
        return [(c, run(c, folder)) for c in CASES]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: list[tuple[Case, Outcome]]) -> str:
    out = [
        "# Bad inputs and what proclife says",
        "",
        "<!-- generated by `python tests/bad_inputs.py`; tests/test_bad_inputs.py checks it; do not edit -->",
        "",
        f"{len(rows)} bad inputs, each run on its own. A mistake of the user's ends with status 2 and one line "
        "that names the input at fault and the fix (click's own usage errors add the usage and a hint: "
        "`lines` counts the lines written to stderr, `message` is the last). Status 3 would be proclife's own "
        "failure, 1 a disagreement: neither belongs here. `<tmp>` is the folder the cases run in.",
        "",
        "| bad input | command | status | lines | message |",
        "|---|---|---|---|---|",
    ]
    for c, o in rows:
        command = " ".join(["proclife", *c.argv])
        out.append(f"| {_cell(c.what)} | `{_cell(command)}` | {o.status} | {o.lines} | {_cell(o.message)} |")
    return "\n".join(out) + "\n"


def main() -> int:
    rows = outcomes()
    TABLE.write_text(table(rows))
    wrong = [(c, o) for c, o in rows if o.status != 2]
    for c, o in wrong:
        print(f"status {o.status}: {c.what}: {o.message}", file=sys.stderr)
    print(f"{TABLE}: {len(rows)} bad inputs, {len(wrong)} not status 2")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
