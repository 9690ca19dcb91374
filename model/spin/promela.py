"""Promela for SPIN: the state encoding and the transition relation, derived from the rules.

The state encoding (one byte per process life, handle and thread; the exit codes; the flags)
and the transition structure (one ``d_step`` per event, component, argument and rule) are
derived from the rules. Guards and effects are Python functions, so each base name has a
Promela counterpart in ``GUARDS``/``EFFECTS``; a name without one is refused. Unrolled for
the bounds: no loop counters, no bookkeeping in the state vector, so that with ``-DNOREDUCE``
SPIN stores exactly the systems the explorer reaches without symmetry reduction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proclife.model.core.base import (
    BLOCKED,
    JOIN_CHILDREN,
    JOIN_THREADS,
    REAPED,
    RUN_FINALIZERS,
    RUNNABLE,
    ZOMBIE,
)
from proclife.model.core.engine import Bounds
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import MAIN_FINALIZING, NO_ARG, _sys_exit_code
from proclife.model.core.spec import NEEDS_ACTOR, THREAD_MAKERS, Rule
from proclife.model.core.system import FEEDERS, MAIN, THREAD_KINDS, Config
from proclife.model.core.values import is_exit_int

NONE = 255  # an absent parent
NOCODE = -1000  # an exit code that is None


class SpinError(RuntimeError):
    """SPIN, gcc or pan failed; the message carries their output."""

    exit_status = 3


@dataclass(frozen=True)
class Where:
    """The component a snippet is generated for."""

    pid: int
    thread: int | None
    arg: object


@dataclass
class Gen:
    """Generation context: the model, the bounds and the encodings of the state names."""

    model: Model
    bounds: Bounds
    config: Config

    def __post_init__(self) -> None:
        spec = self.model.spec
        self.n = self.bounds.procs + 1
        self.t = self.bounds.threads
        self.code = {m: {leaf: k + 1 for k, leaf in enumerate(spec.leaves(m))} for m in ("process", "handle", "thread")}

    # --- encodings ------------------------------------------------------------------------

    def const(self, machine: str, leaf: str) -> str:
        return f"{machine[0].upper()}_{leaf.replace('.', '_')}"

    def is_in(self, var: str, machine: str, states: tuple[str, ...]) -> str:
        leaves = [leaf for s in states for leaf in self.model.spec.expand(machine, s)]
        if not leaves:
            return "false"
        return "(" + " || ".join(f"{var} == {self.const(machine, leaf)}" for leaf in leaves) + ")"

    def term(self, p: int) -> str:
        return self.is_in(f"life[{p}]", "process", ("terminated",))

    def exists(self, p: int) -> str:
        return f"(life[{p}] != 0)"

    def child(self, c: int, p: int) -> str:
        return f"({self.exists(c)} && parent[{c}] == {p})"

    def tl(self, p: int, k: int) -> str:
        return f"tlife[{p * max(self.t, 1) + k}]"

    def td(self, p: int, k: int) -> str:
        return f"tdaemon[{p * max(self.t, 1) + k}]"

    def tk(self, p: int, k: int) -> str:
        return f"tkind[{p * max(self.t, 1) + k}]"

    def kind_is(self, p: int, k: int, *kinds: str) -> str:
        return "(" + " || ".join(f"{self.tk(p, k)} == {THREAD_KINDS.index(kind)}" for kind in kinds) + ")"

    def acts(self, p: int, k: int) -> str:
        """ThreadState.acts: thread k runs the program's code (it is no Queue's feeder)."""
        return f"!{self.kind_is(p, k, *FEEDERS)}"

    def desc(self, c: int, p: int) -> str:
        """c descends from p (parents have smaller indices than children)."""
        if c <= p:
            return "false"
        alts = [f"parent[{c}] == {p}"] + [f"(parent[{c}] == {q} && {self.desc(q, p)})" for q in range(p + 1, c)]
        return "(" + " || ".join(alts) + ")"

    def depth_le(self, p: int, k: int) -> str:
        """p and its ancestors number at most k."""
        if k < 1:
            return "false"
        if p == 0:
            return "true"
        alts = [f"(parent[{p}] == {q} && {self.depth_le(q, k - 1)})" for q in range(p)]
        return "(" + " || ".join(alts) + ")"

    def threads_act(self, p: int) -> str:
        """engine.threads_act: the process is running or exiting."""
        return self.is_in(f"life[{p}]", "process", ("running", "exiting"))

    def actor(self, p: int, by: str) -> str:
        """Engine.actor: the main thread is free, or (by='any') some thread is runnable."""
        if by not in NEEDS_ACTOR:
            return "true"
        runnable = f"life[{p}] == {self.const('process', RUNNABLE)}"
        if by == "main":
            return f"({runnable})"
        threads = [f"({self.tl(p, k)} == {self.const('thread', RUNNABLE)} && {self.acts(p, k)})" for k in range(self.t)]
        others = f"({self.threads_act(p)} && ({' || '.join(threads) or 'false'}))"
        return f"({runnable} || {others})"


# --- guards and effects: the Promela counterpart of each base name ----------------------

GuardGen = Callable[[Gen, Where], str]
EffectGen = Callable[[Gen, Where, "str | None"], str]


def _sigterm(disposition: str) -> GuardGen:
    return lambda g, w: f"(sigterm[{w.pid}] == {SIGTERM[disposition]})"


SIGTERM = {"default": 0, "ignore": 1, "exit": 2}

GUARDS: dict[str, GuardGen] = {
    "is_main": lambda g, w: "true" if w.pid == 0 else "false",
    "is_child": lambda g, w: "false" if w.pid == 0 else "true",
    "parent_daemonic": lambda g, w: "(" + " || ".join(
        [f"(parent[{w.pid}] == {q} && pdaemon[{q}])" for q in range(w.pid)] or ["false"]) + ")",
    "proc_terminated": lambda g, w: g.term(w.pid),
    "sentinel_lag": lambda g, w: "false" if not g.config.traits.descendants_hold_sentinel else "(" + " || ".join(
        [f"({g.exists(c)} && {g.desc(c, w.pid)} && !{g.term(c)})" for c in range(w.pid + 1, g.n)] or ["false"]) + ")",
    "sigterm_default": _sigterm("default"),
    "sigterm_ignore": _sigterm("ignore"),
    "sigterm_exit": _sigterm("exit"),
    "children_done": lambda g, w: "(" + " && ".join(
        [f"!({g.child(c, w.pid)} && {_pending(g, c)})" for c in range(w.pid + 1, g.n)] or ["true"]) + ")",
    "exit_join_next": lambda g, w: _exit_join_next(g, w.pid),
    "exit_joined": lambda g, w: "false" if w.pid == 0 else (
        f"(joining[{w.pid}] && {_pending(g, w.pid)} && {g.term(w.pid)} && {_parent_joins(g, w.pid)})"),
    "threads_done": lambda g, w: "(" + " && ".join(
        [f"({g.td(w.pid, k)} || !{g.is_in(g.tl(w.pid, k), 'thread', ('running',))})" for k in range(g.t)]
        or ["true"]) + ")",
    "shutdown_refuses_threads": lambda g, w: "false" if w.pid != 0 or not g.config.traits.shutdown_refuses_threads
    else g.is_in("life[0]", "process", MAIN_FINALIZING),
    "shutdown_refuses_fork": lambda g, w: "false" if not g.config.traits.shutdown_refuses_fork
    else f"(parent[{w.pid}] == 0 && {g.is_in('life[0]', 'process', MAIN_FINALIZING)})",
    "reaped_by_other": lambda g, w: "true" if w.pid == 0 or g.config.traits.zombies_reaped_at_once
    else f"orphan[{w.pid}]",
    "spawned": lambda g, w: "true" if g.config.traits.children_run_fresh_interpreter and w.pid != 0 else "false",
    "atexit_in_child": lambda g, w: "true" if w.pid != 0 and g.config.traits.children_exit_like_main else "false",
    "exit_status_int": lambda g, w: "true" if is_exit_int(w.arg) else "false",
    "feeder": lambda g, w: g.kind_is(w.pid, _k(w), *FEEDERS),
    "join_cancelled": lambda g, w: g.kind_is(w.pid, _k(w), "feeder_unjoined"),
    "atexit_registered": lambda g, w: g.kind_is(w.pid, _k(w), "atexit"),
    "threading_up": lambda g, w: f"!{_shutdown_begun(g, w.pid)}",
    "feeders_to_join": lambda g, w: "(" + " || ".join(
        [f"({g.kind_is(w.pid, k, 'feeder')} && {g.is_in(g.tl(w.pid, k), 'thread', ('running',))})"
         for k in range(g.t)] or ["false"]) + ")",
    "feeders_flushed": lambda g, w: "(" + " && ".join(
        [f"!({g.kind_is(w.pid, k, 'feeder')} && {g.tl(w.pid, k)} == {g.const('thread', BLOCKED)})"
         for k in range(g.t)] or ["true"]) + ")",
}


def _k(w: Where) -> int:
    assert w.thread is not None
    return w.thread


def _shutdown_begun(g: Gen, p: int) -> str:
    """semantics._shutdown_begun: threading._shutdown() has begun in p."""
    if p == MAIN or g.config.traits.children_exit_like_main:
        return g.is_in(f"life[{p}]", "process", ("exiting",))
    return f"(life[{p}] == {g.const('process', JOIN_THREADS)})"


def _finalizers_begun(g: Gen, p: int) -> str:
    """semantics._finalizers_begun: _run_finalizers() has read its registry in p."""
    states = [RUN_FINALIZERS] + ([JOIN_THREADS] if p != MAIN and not g.config.traits.children_exit_like_main else [])
    return g.is_in(f"life[{p}]", "process", tuple(states))


def _pending(g: Gen, c: int) -> str:
    """semantics._pending: on its parent's exit join list (awaited, not closed)."""
    return f"(awaited[{c}] && handle[{c}] != {g.const('handle', 'closed')})"


def _parent_joins(g: Gen, c: int) -> str:
    """c's parent is in its children join."""
    return "(" + " || ".join(
        f"(parent[{c}] == {q} && life[{q}] == {g.const('process', JOIN_CHILDREN)})" for q in range(c)) + ")"


def _exit_join_next(g: Gen, c: int) -> str:
    """semantics.exit_join_next: no sibling's join in progress (a sibling shares c's parent)."""
    if c == 0:
        return "false"
    busy = [f"({g.exists(s)} && parent[{s}] == parent[{c}] && joining[{s}] && {_pending(g, s)})"
            for s in range(1, g.n) if s != c]
    return (f"({_pending(g, c)} && !joining[{c}] && {_parent_joins(g, c)} && "
            f"!({' || '.join(busy) or 'false'}))")


def _thread_flag(g: Gen, p: int, target: str) -> str:
    """``target = `` the daemon flag of the thread of p that acts (system.acting_thread, by 'any')."""
    out = "skip;"
    for k in range(g.t - 1, -1, -1):
        out = (f"if :: ({g.tl(p, k)} == {g.const('thread', RUNNABLE)} && {g.acts(p, k)}) -> {target} = {g.td(p, k)} "
               f":: else -> {out} fi;")
    return f"if :: life[{p}] == {g.const('process', RUNNABLE)} -> {target} = mdaemon[{p}] :: else -> {out} fi;"


def _reap(g: Gen, p: int) -> str:
    z, r = g.const("process", ZOMBIE), g.const("process", REAPED)
    return f"if :: life[{p}] == {z} -> life[{p}] = {r} :: else -> skip fi;"


def _each_child(g: Gen, p: int, cond: Callable[[int], str], body: Callable[[int], str]) -> str:
    return " ".join(f"if :: ({g.child(c, p)} && {cond(c)}) -> {body(c)} :: else -> skip fi;"
                    for c in range(p + 1, g.n))


def _new_child(g: Gen, w: Where, _: str | None) -> str:
    """semantics.new_child: daemon=None takes the creating process's flag."""
    daemon = f"pdaemon[{w.pid}]" if w.arg is None else (1 if w.arg else 0)
    out = "skip;"
    for c in range(g.n - 1, 0, -1):
        init = (f"life[{c}] = {g.const('process', 'new')}; handle[{c}] = {g.const('handle', 'initial')}; "
                f"parent[{c}] = {w.pid}; pdaemon[{c}] = {daemon};")
        out = f"if :: life[{c}] == 0 -> {init} :: else -> {out} fi;"
    return out


def _new_thread(g: Gen, w: Where, _: str | None) -> str:
    """semantics.new_thread: daemon=None takes the acting thread's flag."""
    out = "skip;"
    for k in range(g.t - 1, -1, -1):
        flag = _thread_flag(g, w.pid, g.td(w.pid, k)) if w.arg is None else f"{g.td(w.pid, k)} = {1 if w.arg else 0};"
        init = f"{g.tl(w.pid, k)} = {g.const('thread', 'new')}; {flag}"
        out = f"if :: {g.tl(w.pid, k)} == 0 -> {init} :: else -> {out} fi;"
    return out


def _inherit_main_thread(g: Gen, w: Where, _: str | None) -> str:
    """semantics.inherit_main_thread: under fork the child's main thread has the forking thread's flag."""
    c = w.pid
    if c == 0 or not g.config.traits.children_inherit_forking_thread:
        return "skip;"
    return " ".join(f"if :: parent[{c}] == {q} -> {_thread_flag(g, q, f'mdaemon[{c}]')} :: else -> skip fi;"
                    for q in range(c))


def _new_feeder(g: Gen, w: Where, _: str | None) -> str:
    """semantics.new_feeder: a daemon thread, blocked, joined by the finalizers unless they have begun."""
    feeder, unjoined = THREAD_KINDS.index("feeder"), THREAD_KINDS.index("feeder_unjoined")
    out = "skip;"
    for k in range(g.t - 1, -1, -1):
        init = (f"{g.tl(w.pid, k)} = {g.const('thread', BLOCKED)}; {g.td(w.pid, k)} = 1; "
                f"if :: {_finalizers_begun(g, w.pid)} -> {g.tk(w.pid, k)} = {unjoined} "
                f":: else -> {g.tk(w.pid, k)} = {feeder} fi;")
        out = f"if :: {g.tl(w.pid, k)} == 0 -> {init} :: else -> {out} fi;"
    return out


def _join_feeders(g: Gen, w: Where, _: str | None) -> str:
    p = w.pid
    return " ".join(f"if :: ({g.kind_is(p, k, 'feeder')} && {g.is_in(g.tl(p, k), 'thread', ('running',))}) -> "
                    f"{g.tl(p, k)} = {g.const('thread', 'terminated')} :: else -> skip fi;" for k in range(g.t))


def _run_threading_atexits(g: Gen, w: Where, _: str | None) -> str:
    p, blocked, runnable = w.pid, g.const("thread", BLOCKED), g.const("thread", RUNNABLE)
    return " ".join(f"if :: {g.kind_is(p, k, 'atexit')} -> {g.tk(p, k)} = {THREAD_KINDS.index('thread')}; "
                    f"if :: {g.tl(p, k)} == {blocked} -> {g.tl(p, k)} = {runnable} :: else -> skip fi; "
                    f":: else -> skip fi;" for k in range(g.t))


def _poll(g: Gen, s: int, kin: str) -> str:
    """semantics._poll_ended for process s, if ``kin`` holds."""
    started, stopped = g.const("handle", "started"), g.const("handle", "stopped")
    return (f"if :: ({g.exists(s)} && {kin} && handle[{s}] == {started} && {g.term(s)}) -> "
            f"handle[{s}] = {stopped}; {_reap(g, s)} :: else -> skip fi;")


def _poll_siblings(g: Gen, w: Where, _: str | None) -> str:
    return " ".join(_poll(g, s, f"parent[{s}] == parent[{w.pid}]") for s in range(1, g.n) if s != w.pid)


def _poll_children(g: Gen, w: Where, _: str | None) -> str:
    return " ".join(_poll(g, c, f"parent[{c}] == {w.pid}") for c in range(w.pid + 1, g.n))


def _code(g: Gen, w: Where, how: str | None) -> str:
    if how == "sys_exit":
        value = _sys_exit_code(w.arg)
    elif how == "low_byte":
        if not is_exit_int(w.arg):
            return "skip;"  # its rule's guard exit_status_int is false for this argument: never taken
        value = int(w.arg) & 0xFF  # type: ignore[call-overload]
    else:
        value = int(str(how))
    return f"code[{w.pid}] = {value};"


def _die(g: Gen, w: Where, _: str | None) -> str:
    p = w.pid
    threads = " ".join(f"if :: {g.tl(p, k)} != 0 -> {g.tl(p, k)} = {g.const('thread', 'terminated')} "
                       f":: else -> skip fi;" for k in range(g.t))
    orphans = _each_child(g, p, lambda c: f"life[{c}] != {g.const('process', 'new')} && !{g.term(c)}",
                          lambda c: f"orphan[{c}] = 1;")
    zombies = _each_child(g, p, lambda c: f"life[{c}] == {g.const('process', ZOMBIE)}",
                          lambda c: f"life[{c}] = {g.const('process', REAPED)};")
    return f"exitcode[{p}] = code[{p}]; {threads} {orphans} {zombies}"


def _inherit_sigterm(g: Gen, w: Where, _: str | None) -> str:
    """semantics.inherit_sigterm: what the child's start method carries of the parent's disposition."""
    c = w.pid
    ign, dfl = SIGTERM["ignore"], SIGTERM["default"]
    out = []
    for q in range(c):
        across = f"if :: sigterm[{q}] == {ign} -> sigterm[{c}] = {ign} :: else -> sigterm[{c}] = {dfl} fi;"
        traits = g.config.traits
        if traits.children_copy_handlers:
            body = f"sigterm[{c}] = sigterm[{q}];"
        elif traits.children_share_forkserver:  # fs_sigterm holds the disposition + 1, 0 meaning no forkserver yet
            body = (f"if :: fs_sigterm[{q}] == 0 -> {across} fs_sigterm[{q}] = sigterm[{c}] + 1 "
                    f":: else -> sigterm[{c}] = fs_sigterm[{q}] - 1 fi;")
        else:
            body = across
        out.append(f"if :: parent[{c}] == {q} -> {body} :: else -> skip fi;")
    return " ".join(out)


def _await(g: Gen, w: Where, _: str | None) -> str:
    return _each_child(g, w.pid, lambda c: f"handle[{c}] == {g.const('handle', 'started')} && !orphan[{c}]",
                       lambda c: f"awaited[{c}] = 1;")


def _daemon_target(g: Gen, c: int) -> str:
    return f"pdaemon[{c}] && handle[{c}] == {g.const('handle', 'started')} && !{g.term(c)}"


def _sigterm_daemons(g: Gen, w: Where, _: str | None) -> str:
    return _each_child(g, w.pid, lambda c: _daemon_target(g, c), lambda c: fire(g, "sigterm", Where(c, None, NO_ARG)))


EFFECTS: dict[str, EffectGen] = {
    "send": lambda g, w, event: fire(g, str(event), Where(w.pid, None, NO_ARG)),
    "new_child": _new_child,
    "new_thread": _new_thread,
    "set_daemon": lambda g, w, _: f"pdaemon[{w.pid}] = {1 if w.arg else 0};",
    "set_handler": lambda g, w, _: f"sigterm[{w.pid}] = {SIGTERM[str(w.arg)]};",
    "reap": lambda g, w, _: _reap(g, w.pid),
    "poll_siblings": _poll_siblings,
    "code": _code,
    "die": _die,
    "await_children": _await,
    "poll_children": _poll_children,
    "begin_exit_join": lambda g, w, _: f"joining[{w.pid}] = 1;",
    "end_exit_join": lambda g, w, _: f"joining[{w.pid}] = 0; awaited[{w.pid}] = 0;",
    "inherit_main_thread": _inherit_main_thread,
    "sigterm_daemon_children": _sigterm_daemons,
    "inherit_sigterm": _inherit_sigterm,
    "new_feeder": _new_feeder,
    "kind": lambda g, w, value: f"{g.tk(w.pid, _k(w))} = {THREAD_KINDS.index(str(value))};",
    "join_feeders": _join_feeders,
    "run_threading_atexits": _run_threading_atexits,
}

# Effects that fire another event: the transition is enabled only if some rule of it matches.
NEEDS = {
    "send": lambda g, w, event: enabled(g, str(event), Where(w.pid, None, NO_ARG)),
    "sigterm_daemon_children": lambda g, w, _: "(" + " && ".join(
        [f"(!({g.child(c, w.pid)} && {_daemon_target(g, c)}) || {enabled(g, 'sigterm', Where(c, None, NO_ARG))})"
         for c in range(w.pid + 1, g.n)] or ["true"]) + ")",
}


# --- rules to Promela ---------------------------------------------------------------------


def _var(g: Gen, rule: Rule, w: Where) -> str:
    if rule.machine == "handle":
        return f"handle[{w.pid}]"
    if rule.machine == "process":
        return f"life[{w.pid}]"
    assert w.thread is not None
    return g.tl(w.pid, w.thread)


def _no_form(rule: Rule, kind: str, name: str, table: str, call: str) -> ModelError:
    return ModelError(
        f"rule {rule.id!r} has {kind} {name!r}, which has no Promela counterpart; give the extension one, "
        f"Extension({table}={{{name!r}: form}}) with form{call} returning Promela text (docs/extending.md), "
        "or check this model with the explorer only"
    )


def condition(g: Gen, rule: Rule, w: Where) -> str:
    """The rule's source states and guards, and that every event it fires can fire."""
    parts = [g.is_in(_var(g, rule, w), rule.machine, rule.src)]
    for name in rule.when:
        gen = GUARDS.get(name.lstrip("!")) or g.model.guard_forms.get(name.lstrip("!"))
        if gen is None:
            raise _no_form(rule, "guard", name.lstrip("!"), "guard_forms", "(g, where)")
        text = gen(g, w)
        parts.append(f"!{text}" if name.startswith("!") else text)
    for eff in rule.effects:
        name, _, arg = eff.partition(":")
        if name in NEEDS:
            parts.append(NEEDS[name](g, w, arg or None))
    return "(" + " && ".join(parts) + ")"


def body(g: Gen, rule: Rule, w: Where) -> str:
    out = [] if rule.dst is None else [f"{_var(g, rule, w)} = {g.const(rule.machine, rule.dst)};"]
    for eff in rule.effects:
        name, _, arg = eff.partition(":")
        gen = EFFECTS.get(name) or g.model.effect_forms.get(name)
        if gen is None:
            raise _no_form(rule, "effect", name, "effect_forms", "(g, where, arg)")
        out.append(gen(g, w, arg or None))
    return " ".join(out)


def rules_for(g: Gen, event: str) -> list[Rule]:
    return [r for r in g.model.spec.rules if r.event == event]


def enabled(g: Gen, event: str, w: Where) -> str:
    return "(" + " || ".join([condition(g, r, w) for r in rules_for(g, event)] or ["false"]) + ")"


def fire(g: Gen, event: str, w: Where) -> str:
    """An event fired by an effect: the first matching rule (the base rules of one event exclude each other)."""
    arms = " ".join(f":: {condition(g, r, w)} -> {body(g, r, w)}" for r in rules_for(g, event))
    return f"if {arms} :: else -> skip fi;"


def candidate(g: Gen, event: str, machine: str, by: str, w: Where) -> str | None:
    """Engine.candidates and Engine._may_grow: who may take the event, within the bounds."""
    p = w.pid
    if machine == "handle":
        if p == 0:
            return None
        return f"({g.exists(p)} && !orphan[{p}] && " + " || ".join(
            f"(parent[{p}] == {q} && {g.actor(q, by)})" for q in range(p)) + ")"
    if machine == "process":
        grow = "true"
        if event == "create_child":
            grow = f"(life[{g.n - 1}] == 0 && {g.depth_le(p, g.bounds.depth)})" if g.n > 1 else "false"
        elif event in THREAD_MAKERS:
            grow = f"({g.tl(p, g.t - 1)} == 0)" if g.t > 0 else "false"
        return f"({g.exists(p)} && {grow} && {g.actor(p, by)})"
    assert w.thread is not None
    acts = "true" if by == "none" else g.threads_act(p)
    return f"({g.tl(p, w.thread)} != 0 && {acts} && {g.actor(p, by)})"
