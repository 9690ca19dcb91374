"""examples/stopped.py, the worked research extension, reaches every engine (issue 12).

SIGSTOP/SIGCONT and a SIGTERM held pending while stopped: checked on real processes under
each start method, explored by both engines with equal counts and every check held, its
liveness violation reported once its fairness assumption is dropped, and drawn. Beside it,
each part an extension may give the engines (Promela forms, checks, findings, fairness,
scopes, traits) is accepted where it fits and refused, with the fix, where it does not.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import proclife
from examples.stopped import EXTENSION, PENDING, QUIET, UNFAIR
from proclife.conformance.check import Budget, check, engine_for
from proclife.conformance.report import Disagreement
from proclife.conformance.runner import Timing, run_trace
from proclife.model.core.base import ZOMBIE
from proclife.model.core.checks import Fairness, Finding, StateInvariant
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ExtensionError, ModelError
from proclife.model.core.extend import Extension, ScopeDef, Trait, load
from proclife.model.core.semantics import Action, Ctx
from proclife.model.core.spec import Rule, Source
from proclife.model.core.system import Config, System
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.scopes import scope
from proclife.model.spin.pml import generate
from proclife.runtime.impls import resolve_impl
from proclife.spin_runner import run_spin

ROOT = Path(__file__).resolve().parent.parent
NEW_RULES = {r.id for r in EXTENSION.rules}
TINY = Bounds(procs=1, threads=0, depth=1)
CHILD = [Action("create_child", 0, None, False), Action("start", 1)]


def _explorer(ext: Extension, bounds: Bounds = TINY) -> Explorer:
    model = load([ext])
    return Explorer(model, bounds, Config(), scope=scope("stop", model), symmetry=False)


def _cli(*argv: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proclife", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


# --- the model: what the extension says --------------------------------------------------


def test_sigterm_waits_for_sigcont_in_the_model() -> None:
    model = load([EXTENSION])
    engine = Engine(model.spec, model.semantics, Config())
    system = System.initial()
    for action in [*CHILD, Action("sigstop", 1), Action("sigterm", 1)]:
        (t,) = engine.predict(system, action)
        system = t.system
    assert system.procs[1].life == PENDING and system.procs[1].exitcode is None
    (t,) = engine.predict(system, Action("sigcont", 1))
    assert t.rules[:2] == ("process.sigcont_delivers_sigterm", "process.sigterm_default")
    assert t.system.procs[1].exitcode == -15


def test_no_thread_of_a_stopped_process_acts() -> None:
    """Its threads are stopped with it: neither its thread events nor calls made by its threads are offered."""
    model = load([EXTENSION])
    engine = Engine(model.spec, model.semantics, Config())
    system = System.initial()
    for action in [Action("create_thread", 0, None, False), Action("thread_start", 0, 0), *CHILD,
                   Action("sigstop", 0)]:
        system = engine.predict(system, action)[0].system
    assert system.procs[0].life == QUIET and system.procs[0].threads[0].life == "running.runnable"
    # what P0 does, or its threads do: its own events, and calls on its child's handle
    offered = {a.event for a, _ in engine.enabled(system, Bounds(2, 1, 2))
               if a.pid == 0 or engine.event(a.event).machine == "handle"}
    assert offered == {"sigstop", "sigcont", "sigterm", "sigkill"}, offered  # SIGINT: not modelled while stopped


def test_it_is_drawn() -> None:
    source = proclife.diagram("process", [EXTENSION]).source
    assert '"process/stopped.quiet"' in source and '"process/stopped.sigterm_pending"' in source
    assert re.search(r'"process/running.runnable" -> "process/stopped.quiet" \[label="sigstop', source)
    assert re.search(r'"process/stopped.sigterm_pending" -> "process/running.runnable" \[label="sigcont / sends sigterm',
                     source)


def test_the_model_json_lists_what_it_gives_the_engines() -> None:
    data = proclife.model_data([EXTENSION])
    assert {"stopped.quiet", "stopped.sigterm_pending"} <= set(data["machines"]["process"]["leaves"])
    assert data["fairness"] == [{"event": "sigcont", "liveness": "everything_can_end", "why": EXTENSION.fairness[0].why}]
    assert [c["name"] for c in data["added_checks"]] == ["stopped_has_no_exitcode"]
    assert data["promela_forms"]["guards"] == ["sigterm_held"]
    assert data["scopes"][0]["name"] == "stop"


# --- exploration: fairness, findings, invariants, Promela forms -------------------------------


def test_explored_with_fairness_every_check_holds_and_stopped_states_are_reached() -> None:
    result = _explorer(EXTENSION).run()
    assert result.ok, result.violations
    assert "stopped_has_no_exitcode" in result.checked
    assert result.stats.lives.get(QUIET, 0) > 0 and result.stats.lives.get(PENDING, 0) > 0


def test_without_fairness_the_stopped_process_is_a_dead_end() -> None:
    result = _explorer(UNFAIR).run()
    assert [v.invariant for v in result.violations] == ["everything_can_end"]
    assert result.violations[0].path[-1].system.procs[0].life == QUIET  # the shortest: stop the main program


def _stopped_for_good(system: System, pid: int | None, config: Config) -> bool:
    return any(p.life.startswith("stopped") for p in system.procs)


STOPPED_FOR_GOOD = Finding("stopped_for_good", "everything_can_end", "signal(7): nothing but SIGCONT resumes it",
                           "a process stopped and never continued never ends", _stopped_for_good,
                           promela=lambda g, pid: "(" + " || ".join(
                               g.is_in(f"life[{p}]", "process", ("stopped",)) for p in range(g.n)) + ")")


def test_an_extension_finding_excuses_the_dead_end_it_explains() -> None:
    result = _explorer(replace(UNFAIR, findings=(STOPPED_FOR_GOOD,))).run()
    assert result.ok, result.violations
    assert [h.finding.name for h in result.findings] == ["stopped_for_good"]


def test_an_extension_invariant_is_checked() -> None:
    wrong = StateInvariant("never_stopped", "a claim to break", "no process is ever stopped",
                           lambda s: not any(p.life.startswith("stopped") for p in s.procs))
    result = _explorer(replace(EXTENSION, invariants=(wrong,))).run()
    assert [v.invariant for v in result.violations] == ["never_stopped"]
    assert [s.action.event for s in result.violations[0].path] == ["sigstop"]


def test_spin_refuses_a_guard_without_promela_form_naming_the_fix() -> None:
    model = load([replace(EXTENSION, guard_forms={})])
    with pytest.raises(ModelError, match=r"guard 'sigterm_held'.*guard_forms=\{'sigterm_held': form\}"):
        generate(model, TINY, scope("stop", model))


def test_spin_refuses_a_check_without_promela_form_naming_the_fix() -> None:
    bare = replace(EXTENSION.invariants[0], promela=None)
    model = load([replace(EXTENSION, invariants=(bare,))])
    with pytest.raises(ModelError, match=r"check 'stopped_has_no_exitcode' has no Promela form; give it one"):
        generate(model, TINY, scope("stop", model))


@pytest.mark.heavy
@pytest.mark.tools("spin", "gcc")
@pytest.mark.parametrize("ext", [EXTENSION, replace(UNFAIR, findings=(STOPPED_FOR_GOOD,)), UNFAIR],
                         ids=["fair", "finding", "unfair"])
def test_spin_agrees_with_the_explorer(ext: Extension) -> None:
    model = load([ext])
    explorer = _explorer(ext)
    python = explorer.run()
    outcome = run_spin(model, TINY, explorer.scope, Config(), optimize=False)
    if python.ok:  # a complete search on both sides: the same states
        assert outcome.errors == 0, outcome.output[-2000:]
        assert outcome.states == python.stats.states
    else:  # pan stops at the first violation: the same check, found depth first
        assert [v.invariant for v in python.violations] == ["everything_can_end"]
        assert outcome.errors and outcome.failed == "everything_can_end"


# --- what an extension may give, refused where it does not fit --------------------------------


def test_scopes_an_extension_declares_or_grows() -> None:
    grown = load([replace(EXTENSION, scopes=(ScopeDef("exit", "", offers=("sigstop", "sigcont")),))])
    assert {"sigstop", "sigcont", "target_return"} <= (scope("exit", grown).offers or set())
    assert "sigstop" not in (scope("exit").offers or set())  # the known scope is left as it was
    with pytest.raises(ModelError, match="unknown scope 'stop'"):
        scope("stop")
    with pytest.raises(ExtensionError, match=r"scope 'stop' offers 'sigpause', which the model does not declare"):
        load([replace(EXTENSION, scopes=(ScopeDef("stop", "", offers=("sigpause",)),))])


@pytest.mark.parametrize(("change", "says"), [
    ({"fairness": (Fairness("sigpause", "everything_can_end", ""),)}, "fairness assumes event 'sigpause'"),
    ({"guard_forms": {"nothing": lambda g, w: "true"}}, "guard_forms gives a Promela form for 'nothing'"),
    ({"traits": (Trait("odd", "", Source("x"), lambda m, v: 1 / 0),)}, "trait 'odd' raised ZeroDivisionError"),
    ({"traits": (Trait("odd", "", Source("x"), lambda m, v: "yes"),)}, "trait 'odd' answers something other"),
    ({"invariants": ("stopped",)}, "invariants holds 'stopped', a str, not a StateInvariant or StepInvariant"),
])
def test_a_part_that_does_not_fit_is_refused_at_load(change: dict[str, object], says: str) -> None:
    with pytest.raises(ExtensionError, match=re.escape(says)):
        load([replace(EXTENSION, **change)])  # type: ignore[arg-type]


def test_a_finding_or_fairness_naming_no_check_is_refused() -> None:
    bad = replace(STOPPED_FOR_GOOD, invariant="everything_ends")
    with pytest.raises(ExtensionError, match="finding 'stopped_for_good' excuses 'everything_ends', which is no check"):
        Explorer(load([replace(UNFAIR, findings=(bad,))]), TINY)
    with pytest.raises(ExtensionError, match="fairness for 'sigcont' names liveness check 'ends'"):
        Explorer(load([replace(EXTENSION, fairness=(Fairness("sigcont", "ends", ""),))]), TINY)


# A trait: the fact that SIGCONT finds the process's threads still stopped under spawn only, say
# (made up: the mechanism is what is checked). Its guard and its Promela form read it by name.
SPAWNED = Trait("children_exec", "a child is a new interpreter", Source("Lib/multiprocessing/spawn.py"),
                lambda method, python: method == "spawn")


def _sigstop_under_spawn_only(system: System, ctx: Ctx) -> bool:
    return SPAWNED(ctx.config)


@pytest.mark.heavy
@pytest.mark.tools("spin", "gcc")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_trait_reaches_both_engines(method: str) -> None:
    rule = replace(EXTENSION.rules[0], when=("stop_allowed",))
    ext = replace(EXTENSION, rules=(rule, *EXTENSION.rules[1:]), traits=(SPAWNED,),
                  guards={**EXTENSION.guards, "stop_allowed": _sigstop_under_spawn_only},
                  guard_forms={**EXTENSION.guard_forms, "stop_allowed": lambda g, w: str(SPAWNED(g.config)).lower()})
    assert proclife.model_data([ext])["traits"][0]["values"]["spawn"]["3.11"] is True
    config = Config(start_method=method)  # type: ignore[arg-type]
    model = load([ext])
    python = Explorer(model, TINY, config, scope=scope("stop", model), symmetry=False).run()
    assert (python.stats.lives.get(QUIET, 0) > 0) == (method == "spawn")
    assert run_spin(model, TINY, scope("stop", model), config, optimize=False).states == python.stats.states


# --- real processes -----------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_real_processes_agree_and_cover_the_new_rules(method: str) -> None:
    # The fewest of the plan's runs that take every rule (its pairs are the base model's to cover:
    # tests/test_coverage_pairs.py)
    report = check(load([EXTENSION]), resolve_impl(method), TINY,
                   Budget(examples=0, min_examples=0, max_seconds=240, first_only=True, aim="rules"))
    if report.verdict != "agrees":  # the whole explanation: an assertion's message is cut short
        pytest.fail("\n\n".join(d.explain() for d in report.disagreements) or report.verdict, pytrace=False)
    assert set(report.coverage) >= NEW_RULES, NEW_RULES - set(report.coverage)


def test_a_sigterm_to_a_stopped_process_waits_for_sigcont_on_real_processes() -> None:
    """The kernel holds it: the child ends with -15 only once continued (fork; the others run above)."""
    engine = engine_for(load([EXTENSION]), resolve_impl("fork"))
    steps = [*CHILD, Action("sigstop", 1), Action("sigterm", 1), Action("is_alive", 1), Action("sigcont", 1),
             Action("exitcode", 1)]
    trace = run_trace(engine, resolve_impl("fork"), steps)
    assert [r.observed for r in trace][-3:] == ["True", "ack", "-15"]


def test_a_model_that_kills_a_stopped_process_at_sigterm_disagrees_with_reality() -> None:
    at_once = Rule("process.sigterm_stopped", "process", "sigterm", (QUIET,), ZOMBIE, Source("a wrong guess", "extension"),
                   when=("sigterm_held",), effects=("code:-15", "die"))
    wrong = replace(EXTENSION, rules=tuple(at_once if r.id == at_once.id else r for r in EXTENSION.rules))
    engine = engine_for(load([wrong]), resolve_impl("fork"))
    # The stopped child never ends, so the wait for the end the model predicts runs its whole bound:
    # 3 s here rather than the default 10 (the steps before it need milliseconds).
    with pytest.raises(Disagreement) as caught:
        run_trace(engine, resolve_impl("fork"), [*CHILD, Action("sigstop", 1), Action("sigterm", 1)], Timing(bound=3.0))
    assert caught.value.action == Action("sigterm", 1)


# --- the command line, as the README has it --------------------------------------------------


@pytest.mark.heavy
@pytest.mark.tools("spin", "gcc")
def test_explore_check_spin_as_the_readme_says(tmp_path: Path) -> None:
    line = next(x for x in (ROOT / "README.md").read_text().splitlines()
                if x.startswith(".venv/bin/proclife explore --extend examples.stopped:EXTENSION"))
    argv = line.split()[1:]
    out = tmp_path / argv[argv.index("--json") + 1]
    argv[argv.index("--json") + 1] = str(out)
    assert argv[argv.index("--check") + 1] == "spin"
    run = _cli(*argv, tmp=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(out.read_text())
    assert data["spin"]["states"] == data["states"] and not data["violations"] and not data["spin"]["violations"]
    assert data["process_states"][QUIET] > 0 and data["process_states"][PENDING] > 0
    assert "stopped_has_no_exitcode" in data["checked"]
    unfair = _cli("explore", "--extend", "examples.stopped:UNFAIR", "--scope", "stop", "--procs", "1", "--threads",
                  "1", tmp=tmp_path)
    assert unfair.returncode == 1 and "BROKEN everything_can_end" in unfair.stdout, unfair.stdout + unfair.stderr


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_conform_as_the_readme_says(tmp_path: Path, method: str) -> None:
    out = tmp_path / "conform.json"
    run = _cli("conform", "--extend", "examples.stopped:EXTENSION", "--impl", method, "--examples", "5",
               "--max-seconds", "600", "--json", str(out), "--repro-dir", str(tmp_path), tmp=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    (report,) = json.loads(out.read_text())["reports"]
    assert set(report["coverage"]) >= NEW_RULES, NEW_RULES - set(report["coverage"])


def test_diagrams_command_draws_it(tmp_path: Path) -> None:
    run = _cli("diagrams", "--extend", "examples.stopped:EXTENSION", "--out", str(tmp_path), "--format", "dot",
               tmp=tmp_path)
    assert run.returncode == 0, run.stderr
    assert '"process/stopped.sigterm_pending"' in (tmp_path / "process.dot").read_text()
