"""The Promela form of every check the explorer makes, by name.

The explorer's invariants, findings and liveness goals (``model/explore/invariants.py``) are Python
predicates; SPIN needs each as an expression over the generated state vector. A check
without an entry here makes ``generate`` refuse, so that "SPIN verified the same checks"
stays true when someone adds one.
"""

from __future__ import annotations

from collections.abc import Callable

from proclife.model.core.checks import StepForm
from proclife.model.core.semantics import MAIN_PAST_THREAD_SHUTDOWN
from proclife.model.core.spec import Rule
from proclife.model.explore.invariants import JOIN_CHILDREN, JOIN_THREADS, RUN_FINALIZERS
from proclife.model.spin.promela import GUARDS, NOCODE, SIGTERM, Gen, Where

StateGen = Callable[[Gen], str]


def _any(parts: list[str]) -> str:
    return "(" + " || ".join(parts or ["false"]) + ")"


def _all(parts: list[str]) -> str:
    return "(" + " && ".join(parts or ["true"]) + ")"


def _live_non_daemon_thread(g: Gen, p: int, k: int) -> str:
    return f"(!{g.td(p, k)} && {g.is_in(g.tl(p, k), 'thread', ('running',))})"


# --- state invariants: asserted after every step --------------------------------------------

STATE: dict[str, StateGen] = {
    "terminated_has_exitcode": lambda g: _all(
        [f"(!{g.term(p)} || exitcode[{p}] != {NOCODE})" for p in range(g.n)]),
    "orphans_exact": lambda g: _all(
        [f"(!orphan[{c}] || ({g.exists(c)} && " + _any(
            [f"(parent[{c}] == {q} && {g.term(q)})" for q in range(c)]) + "))" for c in range(1, g.n)]
        + [f"(!({g.exists(c)} && parent[{c}] == {q} && {g.term(q)} && life[{c}] != {g.const('process', 'new')} "
           f"&& !{g.term(c)}) || orphan[{c}])" for c in range(1, g.n) for q in range(c)]),
}


# --- step invariants: a condition on the system before a step, bound by the system after --
# (``StepForm``: ``assert(!binds || pre)``, with ``pre`` or a finding computed before the step's body)


def _leaves(g: Gen, rule: Rule) -> set[str]:
    return {leaf for s in rule.src for leaf in g.model.spec.expand(rule.machine, s)}


def _leaves_join(g: Gen, rule: Rule, phase: str) -> bool:
    return phase in _leaves(g, rule) and rule.dst != phase


def _joined_before_leaving(g: Gen, rule: Rule, w: Where) -> str:
    """invariants.exit_sequence_joined, for a proceed rule that leaves a join phase."""
    parts = []
    if _leaves_join(g, rule, JOIN_THREADS):
        threads_ok = _all([f"!{_live_non_daemon_thread(g, w.pid, k)}" for k in range(g.t)])
        parts.append(f"(life[{w.pid}] != {g.const('process', JOIN_THREADS)} || {threads_ok})")
    if _leaves_join(g, rule, JOIN_CHILDREN):
        parts.append(f"(life[{w.pid}] != {g.const('process', JOIN_CHILDREN)} || {GUARDS['children_done'](g, w)})")
    if _leaves_join(g, rule, RUN_FINALIZERS):
        parts.append(f"(life[{w.pid}] != {g.const('process', RUN_FINALIZERS)} || {GUARDS['feeders_flushed'](g, w)})")
    return _all(parts)


STEP: dict[str, StepForm] = {
    "exit_sequence_joined": StepForm(
        applies=lambda rule: rule.event == "proceed" and rule.dst is not None,
        before=_joined_before_leaving,
        binds=lambda g, rule, w: "true",
    ),
    "no_thread_outlives_join": StepForm(
        applies=lambda rule: rule.event == "proceed",
        before=lambda g, rule, w: f"(life[{w.pid}] == {g.const('process', JOIN_THREADS)} || " + _all(
            [f"!{_live_non_daemon_thread(g, w.pid, k)}" for k in range(g.t)]) + ")",
        binds=lambda g, rule, w: g.term(w.pid),
    ),
}

# Checked on the rule table (``invariants.closed_rules_ok``) before either engine runs: a
# rule from 'closed' either raises ValueError and changes nothing or only sets daemon.
RULE_TABLE: frozenset[str] = frozenset({"closed_handle_inert"})


# --- findings: what real Python does that breaks a check, excused where it matches ------------

FindingGen = Callable[[Gen, "int | None"], str]


def _past_thread_join(g: Gen, p: int) -> str:
    """invariants.past_thread_join: the main program, and from 3.13 every child."""
    if p != 0 and not g.config.traits.children_exit_like_main:
        return "false"
    return g.is_in(f"life[{p}]", "process", MAIN_PAST_THREAD_SHUTDOWN)


def _pids(g: Gen, pid: int | None) -> range:
    return range(g.n) if pid is None else range(pid, pid + 1)


def _held_by_daemon(g: Gen, p: int) -> str:
    """invariants.held_by_daemon: ``p`` is a live daemon ignoring SIGTERM its parent's children join
    awaits, or waits in its children join on an awaited child held so (a child's index is above its parent's)."""
    joining = g.const("process", JOIN_CHILDREN)
    daemon = (f"(awaited[{p}] && pdaemon[{p}] && sigterm[{p}] == {SIGTERM['ignore']} && !{g.term(p)} && "
              + _any([f"({g.child(p, q)} && life[{q}] == {joining})" for q in range(p)]) + ")")
    via = _any([f"({g.child(c, p)} && awaited[{c}] && !{g.term(c)} && {_held_by_daemon(g, c)})"
                for c in range(p + 1, g.n)])
    return f"({daemon} || (life[{p}] == {joining} && {via}))"


FINDINGS: dict[str, FindingGen] = {
    "daemon_ignores_sigterm": lambda g, pid: _all([
        f"(!{g.exists(p)} || life[{p}] == {g.const('process', 'new')} || {g.term(p)} || {_held_by_daemon(g, p)})"
        for p in _pids(g, pid)]),
    "thread_outlives_thread_join": lambda g, pid: _any([
        f"({_past_thread_join(g, p)} && " + _any([_live_non_daemon_thread(g, p, k) for k in range(g.t)]) + ")"
        for p in _pids(g, pid)]),
}


# --- liveness goals -------------------------------------------------------------------------

GOALS: dict[str, StateGen] = {
    "everything_can_end": lambda g: _all(
        [f"(!{g.exists(p)} || life[{p}] == {g.const('process', 'new')} || {g.term(p)})" for p in range(g.n)]),
}
