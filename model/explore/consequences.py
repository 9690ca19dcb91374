"""What a step observably did beyond the rules it took: the consequences coverage is counted by.

A rule counts as taken once a step took it, but a broken implementation hides behind a rule
taken in a way that never showed what it decides (a target that raised, its exit status
never seen). A consequence is a short stable key for one fact a step produced, derived from
the spec's events and states and the model's systems around the step (the one reality
agreed with), and paired with the rule that produced it:

- ``call:<event>@<handle state>-><observed>``: a Process API call in a handle state, and
  what the caller saw;
- ``target_end:<way>-><status>``: the target ended this way (its end event and argument)
  and the process ended within the same step with this exit status; ``->waits(<phase>)``
  when its exit sequence waits in that phase instead (its status shows as ``ended``);
- ``exit_phase:<phase>[daemon=d,nondaemon=n,threads=t]``: a process entered a phase of its
  exit sequence with (1) or without (0) live daemonic children, live non-daemon children
  and live non-daemon threads (the ones the thread join waits for);
- ``ended:<state>-><status>``: a process ended from that state with that exit status.

Pure: functions of (system before, action, transition chosen); the observed result is the
transition's.
"""

from __future__ import annotations

from itertools import product

from proclife.model.core.engine import Engine, Transition
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import ProcState, System

Pair = tuple[str, str]  # (rule id, consequence key)
MicroStep = tuple[tuple[str, ...], System, System]  # the rules of one fired event, the system before and after

KINDS: tuple[str, ...] = ("call", "target_end", "exit_phase", "ended")
EXITING = "exiting."


def pair_key(pair: Pair) -> str:
    """One string for a pair (JSON keys, plan goals): ``rule => consequence``."""
    return f"{pair[0]} => {pair[1]}"


def split_key(key: str) -> Pair:
    rule, _, consequence = key.partition(" => ")
    return rule, consequence


def _arg(action: Action) -> str:
    return "" if action.arg is NO_ARG else f"({action.arg!r})"


def _live(proc: ProcState) -> bool:
    return proc.life != "new" and not proc.terminated


def phase_key(phase: str, daemon: bool, nondaemon: bool, threads: bool) -> str:
    return f"exit_phase:{phase.removeprefix(EXITING)}[daemon={daemon:d},nondaemon={nondaemon:d},threads={threads:d}]"


def _phase_entered(system: System, pid: int) -> str:
    """The exit-phase key of ``pid`` as it stands in ``system``: its phase and what is alive around it."""
    proc = system.procs[pid]
    children = [system.procs[c] for c in system.children(pid)]
    return phase_key(
        proc.life,
        any(c.daemon and _live(c) for c in children),
        any(not c.daemon and _live(c) for c in children),
        any(not t.daemon and t.life.startswith("running") for t in proc.threads),
    )


def micro_steps(engine: Engine, before: System, action: Action, transition: Transition) -> list[MicroStep]:
    """The events inside one settled step: the action fired, then each internal event the model ran.

    ``Engine.predict`` keeps only the rules on the way; the systems in between are found
    again by following those rules (fire, then internal steps whose rules come next).
    """
    for fired in engine.fire(before, action):
        n = len(fired.rules)
        if transition.rules[:n] != fired.rules or fired.observed != transition.observed:
            continue
        rest = _internal_path(engine, fired.system, transition.rules[n:], transition.system)
        if rest is not None:
            return [(fired.rules, before, fired.system), *rest]
    return [(transition.rules, before, transition.system)]


def _internal_path(engine: Engine, system: System, rules: tuple[str, ...], goal: System) -> list[MicroStep] | None:
    if not rules:
        return [] if system == goal else None
    for _action, t in engine.internal_steps(system):
        n = len(t.rules)
        if rules[:n] == t.rules:
            rest = _internal_path(engine, t.system, rules[n:], goal)
            if rest is not None:
                return [(t.rules, system, t.system), *rest]
    return None


class _Memo:
    """Per engine: each process rule's destination leaves, and the pairs of steps already seen
    (the plan search asks for the same steps many times)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lands: dict[str, frozenset[str]] = {
            r.id: frozenset(engine.spec.expand("process", r.dst))
            for r in engine.spec.rules if r.machine == "process" and r.dst is not None
        }
        self.pairs: dict[tuple[System, Action, Transition], tuple[Pair, ...]] = {}


_MEMOS: dict[int, _Memo] = {}


def _memo(engine: Engine) -> _Memo:
    memo = _MEMOS.get(id(engine))
    if memo is None or memo.engine is not engine:
        if len(_MEMOS) > 16:
            _MEMOS.clear()
        memo = _MEMOS[id(engine)] = _Memo(engine)
    return memo


def _cause(memo: _Memo, rules: tuple[str, ...], life: str) -> str:
    """The rule of a micro-step that put a process in ``life``: the first process rule going there."""
    for rule_id in rules:
        if life in memo.lands.get(rule_id, ()):
            return rule_id
    return rules[0]


def consequences(engine: Engine, before: System, action: Action, transition: Transition) -> tuple[Pair, ...]:
    """Every (rule, consequence) pair one step produced, in the order they happened."""
    memo = _memo(engine)
    key = (before, action, transition)
    found = memo.pairs.get(key)
    if found is None:
        if len(memo.pairs) > 400_000:
            memo.pairs.clear()
        found = memo.pairs[key] = _consequences(engine, memo, before, action, transition)
    return found


def _consequences(engine: Engine, memo: _Memo, before: System, action: Action, transition: Transition) -> tuple[Pair, ...]:
    after = transition.system
    event = engine.event(action.event)
    out: list[Pair] = []
    head = transition.rules[0] if transition.rules else action.event
    if event.drive is not None and event.drive.how == "call":
        state = before.procs[action.pid].handle
        out.append((head, f"call:{action.event}{_arg(action)}@{state}->{transition.observed}"))
    if event.drive is not None and event.drive.how == "end":
        proc = after.procs[action.pid]
        status = str(proc.exitcode) if proc.terminated else f"waits({proc.life.removeprefix(EXITING)})"
        out.append((head, f"target_end:{action.event}{_arg(action)}->{status}"))
    lives_changed = len(after.procs) != len(before.procs) or any(
        a.life != b.life for a, b in zip(after.procs, before.procs, strict=False)
    )
    if not lives_changed:
        return tuple(out)
    for rules, old, new in micro_steps(engine, before, action, transition):
        for pid, proc in enumerate(new.procs):
            was = old.procs[pid].life if pid < len(old.procs) else "new"
            if proc.life == was:
                continue
            if proc.life.startswith(EXITING):
                out.append((_cause(memo, rules, proc.life), _phase_entered(new, pid)))
            elif proc.terminated and not was.startswith("terminated"):
                out.append((_cause(memo, rules, proc.life), f"ended:{was}->{proc.exitcode}"))
    return tuple(out)


def spec_candidates(engine: Engine) -> set[Pair]:
    """The pairs the spec alone names, before any search: every API call's rule in each of its
    states with its fixed result, and every rule entering an exit phase with each of the eight
    combinations of live children and threads. Results and statuses that depend on the run
    (an exit code) are not named here: the search finds them."""
    out: set[Pair] = set()
    probe = System.initial()
    for rule in engine.spec.rules:
        event = engine.event(rule.event)
        if event.drive is not None and event.drive.how == "call" and rule.outcome.returns != "exitcode":
            observed = engine._observe(rule, probe, Action(rule.event, 0))
            args = event.domains[0] if event.domains else (NO_ARG,)
            for leaf, arg in product((x for s in rule.src for x in engine.spec.expand("handle", s)), args):
                out.add((rule.id, f"call:{rule.event}{_arg(Action(rule.event, 0, None, arg))}@{leaf}->{observed}"))
        if rule.machine == "process" and rule.dst is not None:
            for leaf in engine.spec.expand("process", rule.dst):
                if leaf.startswith(EXITING):
                    out.update((rule.id, phase_key(leaf, *flags)) for flags in product((False, True), repeat=3))
    return out
