"""The SPIN model and the reading of pan's answers: every check the explorer makes, the counts, a trail.

``generate`` assembles the Promela model from the transition relation (``proclife.model.spin.promela``)
and the checks (``model.promela_checks``). Each step spans lines of its own, so that pan's
trail maps back to the actions and rules that took it and to the check that failed: a
violation SPIN finds is a path the explorer can print, draw and replay. Running spin, gcc
and pan is ``proclife.spin_runner``'s job; nothing here starts a process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from proclife.model.core.base import RUNNABLE
from proclife.model.core.checks import StepForm
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import Config
from proclife.model.explore.explorer import (
    Result,
    Stats,
    Violation,
    follow,
    rule_table_violations,
)
from proclife.model.explore.invariants import Checks, checks_of
from proclife.model.explore.scopes import Scope
from proclife.model.spin.promela import (
    NOCODE,
    NONE,
    Gen,
    SpinError,
    Where,
    body,
    candidate,
    condition,
    rules_for,
)
from proclife.model.spin.promela_checks import FINDINGS as PML_FINDINGS
from proclife.model.spin.promela_checks import GOALS, RULE_TABLE, STATE, STEP, FindingGen, StateGen

MODEL_FILE = "model.pml"
NUMBER = r"(\d+(?:\.\d+)?(?:e\+?\d+)?)"


@dataclass(frozen=True)
class Option:
    """One ``d_step`` of the model: the action it stands for and the rule it takes."""

    rule: str
    action: Action


@dataclass
class Generated:
    """The Promela text, and which line holds which step and which check."""

    text: str = ""
    options: dict[int, Option] = field(default_factory=dict)
    checks: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Forms:
    """The Promela form of every check of one model, by name: the base tables, then each check's own."""

    state: dict[str, StateGen]
    step: dict[str, StepForm]
    goals: dict[str, StateGen]
    findings: dict[str, FindingGen]


def _missing(name: str, table: str) -> ModelError:
    return ModelError(
        f"check {name!r} has no Promela form; give it one (promela=..., docs/extending.md) or, for a base "
        f"check, add one to model.promela_checks.{table}; or check this model with the explorer only"
    )


def forms_of(checks: Checks) -> Forms:
    """Each check's Promela form; a check without one is refused, so SPIN verifies every check the explorer makes."""
    forms = Forms({}, {}, {}, {})
    for inv in checks.state:
        state = inv.promela or STATE.get(inv.name)
        if state is None:
            raise _missing(inv.name, "STATE")
        forms.state[inv.name] = state
    for step in checks.step:
        if step.name in RULE_TABLE:
            continue
        form = step.promela or STEP.get(step.name)
        if form is None:
            raise _missing(step.name, "STEP")
        forms.step[step.name] = form
    for live in checks.liveness:
        goal = live.promela or GOALS.get(live.name)
        if goal is None:
            raise _missing(live.name, "GOALS")
        forms.goals[live.name] = goal
    for finding in checks.findings:
        matches = finding.promela or PML_FINDINGS.get(finding.name)
        if matches is None:
            raise _missing(finding.name, "FINDINGS")
        forms.findings[finding.name] = matches
    return forms


def _excuses(checks: Checks, invariant: str, pid: int | None = None) -> list[str]:
    """The findings' macros for a broken check: of the process a step acted on, or of any."""
    suffix = "" if pid is None else f"_P{pid}"
    return [f"FINDING_{f.name}{suffix}" for f in checks.findings if f.invariant == invariant]


def generate(model: Model, bounds: Bounds, scope: Scope, config: Config | None = None) -> Generated:
    """The whole Promela model for these bounds and this scope, with every check asserted."""
    checks = checks_of(model)
    forms = forms_of(checks)
    g = Gen(model, bounds, config or Config())
    spec = model.spec
    steps: list[tuple[str, str, Where, str]] = []  # (event, enabling condition, where, rule id)
    for event in spec.events:
        args: tuple[object, ...] = event.domains[0] if event.domains else (NO_ARG,)
        for p in range(g.n):
            threads: tuple[int | None, ...] = tuple(range(g.t)) if event.machine == "thread" else (None,)
            for k in threads:
                for arg in args:
                    w = Where(p, k, arg)
                    if event.actor == "internal":
                        if event.name == "launch":
                            continue
                        who: str | None = g.exists(p)
                    else:
                        if not scope.allows(Action(event.name, p, k, arg)):
                            continue
                        who = candidate(g, event.name, event.machine, event.by, w)
                    if who is None:
                        continue
                    for rule in rules_for(g, event.name):
                        steps.append((event.name, f"({who} && {condition(g, rule, w)})", w, rule.id))

    out = Generated()
    lines = ["/* Generated by model/spin/pml.py from the proclife spec; do not edit. */"]
    lines += [f"#define {g.const(m, leaf)} {k}" for m, table in g.code.items() for leaf, k in table.items()]
    nt = g.n * max(g.t, 1)
    lines += [
        f"byte life[{g.n}] = 0; byte handle[{g.n}] = 0; byte parent[{g.n}] = {NONE}; bool pdaemon[{g.n}];",
        f"short code[{g.n}] = {NOCODE}; short exitcode[{g.n}] = {NOCODE}; byte sigterm[{g.n}];",
        f"bool orphan[{g.n}]; bool awaited[{g.n}]; byte fs_sigterm[{g.n}]; byte tlife[{nt}]; bool tdaemon[{nt}];",
        f"byte tkind[{nt}];  /* system.THREAD_KINDS, by index */",
        f"bool joining[{g.n}]; bool mdaemon[{g.n}];",
        f"byte life0 = {g.const('process', RUNNABLE)};  /* the main program, not made by a step */",
    ]
    lines += [f"#define INV_{name} {gen(g)}" for name, gen in forms.state.items()]
    lines += [f"#define FINDING_{name} {gen(g, None)}" for name, gen in forms.findings.items()]
    lines += [f"#define FINDING_{name}_P{p} {gen(g, p)}" for name, gen in forms.findings.items() for p in range(g.n)]
    for live in checks.liveness:
        events = live.events(spec)
        moves = [cond for name, cond, _w, _r in steps if name in events]
        lines.append(f"#define GOAL_{live.name} {forms.goals[live.name](g)}")
        lines.append(f"#define MOVES_{live.name} ({' || '.join(moves or ['false'])})")
    lines += [f"hidden byte pre_{name};" for name in forms.step]
    lines += ["", "active proctype system() {", "end: do"]

    def add(text: str, check: str | None = None) -> None:
        lines.append(text)
        if check is not None:
            out.checks[len(lines)] = check

    for name_of_event, cond, w, rule_id in steps:
        rule = spec.rule(rule_id)
        out.options[len(lines) + 1] = Option(rule_id, Action(name_of_event, w.pid, w.thread, w.arg))
        add(f"  :: d_step {{ {cond} ->  /* {rule_id} P{w.pid}{'' if w.thread is None else f'.T{w.thread}'} */")
        bound = [name for name, check in forms.step.items() if check.applies(rule)]
        for name in bound:
            pre = [forms.step[name].before(g, rule, w), *_excuses(checks, name, w.pid)]
            add(f"       pre_{name} = ({' || '.join(pre)});")
        add(f"       {body(g, rule, w)}")
        for name in forms.state:
            add(f"       assert(INV_{name});", name)
        for name in bound:
            add(f"       assert(!{forms.step[name].binds(g, rule, w)} || pre_{name});", name)
        for live in checks.liveness:
            excuses = "".join(f" || {x}" for x in _excuses(checks, live.name))
            add(f"       assert(GOAL_{live.name} || MOVES_{live.name}{excuses});", live.name)
        add("     }")
    if not steps:
        add("  :: false")
    add("od")
    add("}")
    out.text = re.sub(r"(?<!t)life\[0\]", "life0", "\n".join(lines) + "\n")
    return out


@dataclass(frozen=True)
class SpinOutcome:
    """What pan reported: counts, errors, and for a violation the check and the steps to it."""

    states: int
    transitions: int
    errors: int
    seconds: float
    output: str
    failed: str | None = None
    trail: tuple[Option, ...] = ()
    search_seconds: float = 0.0


def as_result(model: Model, bounds: Bounds, scope: Scope, outcome: SpinOutcome,
              config: Config | None = None) -> Result:
    """SPIN's verdict in the explorer's terms: the counts, the checks, a violation's path from the start."""
    stats = Stats(states=outcome.states, transitions=outcome.transitions, seconds=outcome.seconds,
                  search_seconds=outcome.search_seconds)
    own = checks_of(model)
    result = Result(bounds, scope, False, stats, checked=own.names(), engine="spin", config=config or Config())
    result.violations += rule_table_violations(model)
    if outcome.errors:
        checks: dict[str, tuple[str, str]] = {c.name: (c.source, c.doc) for c in own.state}
        checks.update({c.name: (c.source, c.doc) for c in own.step})
        checks.update({c.name: (c.source, c.doc) for c in own.liveness})
        failed = outcome.failed
        if failed is None or failed not in checks:
            raise SpinError(f"pan reported an error that is no check's assertion:\n{outcome.output[-2000:]}")
        source, doc = checks[failed]
        engine = Engine(model.spec, model.semantics, config or Config())
        path = follow(engine, ((o.action, o.rule) for o in outcome.trail))
        result.violations.append(Violation(
            failed, source, doc, path, "found by SPIN, depth first", shortest=False,
        ))
    return result


_STEP_LINE = re.compile(rf"^\s*\d+:\s+proc\s+\d+ \(\S+\) {re.escape(MODEL_FILE)}:(\d+) ")
_ERROR_LINE = re.compile(rf"{re.escape(MODEL_FILE)}:(\d+), Error: assertion violated")


def read_trail(text: str, generated: Generated) -> tuple[str | None, tuple[Option, ...]]:
    """The check that failed and the steps to it, from ``spin -t -p``'s listing."""
    steps = []
    failed = None
    for line in text.splitlines():
        match = _STEP_LINE.match(line)
        if match and int(match.group(1)) in generated.options:
            steps.append(generated.options[int(match.group(1))])
        error = _ERROR_LINE.search(line)
        if error and failed is None:
            failed = generated.checks.get(int(error.group(1)))
    return failed, tuple(steps)


def count(text: str, pattern: str) -> int:
    """A count pan printed; beyond 10^8 it prints them as floats (``2.2345678e+08``)."""
    match = re.search(pattern, text)
    if match is None:
        raise SpinError(f"pan's output has no {pattern!r}: {text[-2000:]}")
    return round(float(match.group(1)))
