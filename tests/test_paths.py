"""Paths: the schema is today's, every corpus path is predicted, and what predict says is what replay sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proclife.conformance.runner import Runner
from proclife.model.core.errors import ModelError
from proclife.model.core.semantics import Action
from proclife.model.core.system import START_METHODS
from proclife.model.core.traits import Traits
from proclife.paths.read import read_path
from proclife.paths.schema import SCHEMA_FILE, committed_text
from proclife.paths.walk import predict_path
from proclife.runtime.impls import resolve_impl

sys.path.insert(0, str(Path(__file__).resolve().parent / "paths"))
from make_corpus import engine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "paths"
INDEX: dict[str, dict[str, object]] = json.loads((CORPUS / "index.json").read_text())
# The default suite replays these under fork: arguments beyond the explorer's domains, a plan run, a violation.
SAMPLE = ["random-01", "random-02", "random-03", "plan-fork-001", "violation-early_exit-exit_sequence_joined"]


def actions_of(name: str) -> tuple[list[Action], str | None]:
    extend = INDEX[name]["extend"]
    model_spec = engine("fork", extend).spec  # type: ignore[arg-type]
    return read_path(CORPUS / f"{name}.json", 0, model_spec), extend  # type: ignore[return-value]


def test_the_committed_schema_is_the_base_models() -> None:
    assert SCHEMA_FILE.read_text() == committed_text(), "refresh it: python -m proclife.paths.schema"


def test_the_corpus_has_every_kind_of_path() -> None:
    kinds = {name.split("-")[0] for name in INDEX}
    assert kinds >= {"plan", "random", "violation"}
    assert sum(name.startswith("random-") for name in INDEX) >= 20
    args = {json.dumps(s.get("arg")) for name in INDEX for s in json.loads((CORPUS / f"{name}.json").read_text())
            if s["event"] in ("sys_exit", "os_exit")}
    assert {"3.5", "[1, 2]"} <= args  # values no explorer domain holds


@pytest.mark.parametrize("name", sorted(INDEX))
def test_every_corpus_path_is_predicted_where_the_model_allows_it(name: str) -> None:
    """Predicted under each start method the index names, refused (one line, the step) under the others."""
    actions, extend = actions_of(name)
    for method in START_METHODS:
        if method in INDEX[name]["start_methods"]:  # type: ignore[operator]
            steps = predict_path(engine(method, extend), actions)
            assert len(steps) == len(actions) and all(s.outcomes for s in steps)
        else:
            with pytest.raises(ModelError, match=r"step \d+"):
                predict_path(engine(method, extend), actions)


def replay_matches_prediction(name: str, method: str) -> None:
    """Each step real processes took is one the prediction allows: the same value and the same rules.

    Against the base model: an example's extension is a hypothesis its violation refutes on real
    processes (tests/test_replay.py), so its path is predicted and replayed by the model reality follows.
    """
    actions, _extend = actions_of(name)
    e = engine(method)
    predicted = predict_path(e, actions)
    with Runner(e, resolve_impl(method)) as runner:
        for step in predicted:
            record = runner.step(step.action)
            allowed = {(o.observed, o.rules) for o in step.outcomes}
            assert (record.observed, record.rules) in allowed, (name, method, step.number, record, allowed)
            assert runner.system in {o.system for o in step.outcomes}


@pytest.mark.parametrize("name", SAMPLE)
def test_a_sample_of_the_corpus_replays_as_predicted(name: str) -> None:
    assert "fork" in INDEX[name]["start_methods"]  # type: ignore[operator]
    replay_matches_prediction(name, "fork")


@pytest.mark.slow
@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("name", sorted(INDEX))
def test_every_corpus_path_replays_as_predicted(name: str, method: str) -> None:
    if method not in INDEX[name]["start_methods"]:  # type: ignore[operator]
        pytest.skip(f"the model does not allow {name} under {method} (checked by the prediction test)")
    replay_matches_prediction(name, method)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proclife", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_predict_prints_each_value_and_the_exit_status_cpython_gives(tmp_path: Path) -> None:
    path = tmp_path / "exits.json"
    ends = [("sys_exit", 3.5, 1), ("sys_exit", [1, 2], 1), ("sys_exit", 7, 7), ("os_exit", 42, 42),
            ("os_exit", 256, 0), ("os_exit", 3.5, 1)]
    steps: list[dict[str, object]] = []
    for k, (event, arg, _code) in enumerate(ends, 1):
        steps += [{"event": "create_child", "pid": 0, "arg": False}, {"event": "start", "pid": k},
                  {"event": event, "pid": k, "arg": arg}, {"event": "exitcode", "pid": k}]
    path.write_text(json.dumps(steps))
    out = run("predict", str(path), "--start-method", "spawn", "--json", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr
    predicted = json.loads((tmp_path / "p.json").read_text())["steps"]
    assert [predicted[4 * k + 3]["outcomes"][0]["observed"] for k in range(len(ends))] == [str(c) for *_, c in ends]
    late = Traits.of("spawn", sys.version_info[:2]).children_exit_like_main  # type: ignore[arg-type]
    assert "process.os_exit_raises_child" + ("_atexit" if late else "") in predicted[-2]["outcomes"][0]["rules"]
    replayed = run("replay", str(path), "--impl", "spawn", "--json", str(tmp_path / "r.json"))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    seen = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert [s["observed"] for s in seen] == [p["outcomes"][0]["observed"] for p in predicted]
    assert "P6 gone exit 1" in seen[-1]["verified"]


@pytest.mark.parametrize(("step", "message"), [
    ({"event": "sys_exit", "pid": 0, "arg": 2**40}, "step 1, sys_exit(1099511627776) @ P0: sys.exit(1099511627776): "
                                                    "the model states exit statuses within a C int only"),
    ({"event": "set_daemon", "pid": 1, "arg": "yes"}, "step 1: set_daemon: argument 'yes' is not one it takes; "
                                                      "give true or false"),
    ({"event": "start", "pid": 0, "thred": 1}, "step 1: unknown key 'thred'"),
    ({"event": "thread_start", "pid": 0}, "step 1: thread_start is a thread event: add \"thread\""),
    ({"event": "sigterm", "pid": 0, "actor": "main"}, "step 1: sigterm leaves no choice of acting thread"),
])
def test_a_bad_step_is_refused_in_one_line_naming_it(tmp_path: Path, step: dict[str, object], message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([step]))
    out = run("predict", str(path))
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr


def test_an_actor_names_who_acts(tmp_path: Path) -> None:
    """A thread of the parent starts the child; the main thread cannot while it is blocked."""
    steps = [{"event": "create_thread", "pid": 0, "arg": False}, {"event": "thread_start", "pid": 0, "thread": 0},
             {"event": "create_child", "pid": 0, "arg": False}, {"event": "start", "pid": 1, "actor": 0}]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(steps))
    out = run("replay", str(good), "--impl", "fork")
    assert out.returncode == 0 and "start @ P1 by T0" in out.stdout, out.stdout + out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([*steps[:3], {"event": "block", "pid": 0}, {"event": "start", "pid": 1, "actor": "main"}]))
    out = run("predict", str(bad))
    assert out.returncode == 2 and "step 5, start @ P1 by main: not possible" in out.stderr, out.stderr
