"""Which actions the explorer (and the SPIN export) offers: a scope, the same for both engines.

A scope is an allow-list: it names the events it offers (every other event, an extension's
new ones included, is not offered) and may narrow an argument domain, so that a bounded run
stays small. ``full`` alone offers every event of the spec, whatever extensions add; an extension
may add events to a scope, or declare a scope of its own (``ScopeDef``). What a
scope offers is printed with every summary, because a property proved in a scope is proved
only there. (Not to be confused with an implementation *profile*, ``--profile``: how an
implementation departs from CPython.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import Action
from proclife.model.core.spec import Spec
from proclife.model.core.system import System


@dataclass(frozen=True)
class Scope:
    """The events offered (``offers``; ``None``: every event of the spec) and narrowed argument domains."""

    name: str
    doc: str
    offers: frozenset[str] | None = None
    args: dict[str, tuple[object, ...]] = field(default_factory=dict)

    def allows(self, action: Action) -> bool:
        if self.offers is not None and action.event not in self.offers:
            return False
        domain = self.args.get(action.event)
        return domain is None or action.arg in domain

    def excluded(self, spec: Spec) -> frozenset[str]:
        """The events of ``spec`` this scope does not offer."""
        if self.offers is None:
            return frozenset()
        return frozenset(e.name for e in spec.events if e.name not in self.offers)

    def with_offers(self, events: frozenset[str]) -> Scope:
        """This scope offering ``events`` as well (an extension's scope additions)."""
        if self.offers is None:
            return self
        return Scope(self.name, self.doc, self.offers | events, dict(self.args))

    def describe(self) -> str:
        parts = ["offers every event" if self.offers is None else f"offers {', '.join(sorted(self.offers))}"]
        parts += [f"{e} only with {', '.join(map(repr, d))}" for e, d in sorted(self.args.items())]
        return "; ".join(parts)


# The exit scope's queues: a put that overfills its pipe, its reader (a feeder's thread_release; no
# other thread blocks in this scope) and cancel_join_thread().
_EXIT_OFFERS = frozenset({"create_child", "create_thread", "start", "join", "terminate", "target_return",
                          "thread_start", "thread_finish", "queue_put", "thread_release", "cancel_join_thread"})
_SMALL_OFFERS = _EXIT_OFFERS | frozenset({"target_raise", "join_timeout", "is_alive", "exitcode", "pid", "sentinel",
                                          "set_daemon", "kill", "close", "thread_block", "register_atexit"})
_LIFECYCLE_OFFERS = _SMALL_OFFERS | frozenset({"sigterm", "install_sigterm", "sys_exit", "os_exit", "block",
                                               "release", "join_current"})

FULL = Scope("full", "every event of the spec, extensions' included, with every argument of its domain")
LIFECYCLE = Scope(
    "lifecycle",
    "every API call, target end, thread and block; of the signals from outside only SIGTERM (the handle's "
    "terminate()/kill() still signal); exit codes one per class: return 0, raise 1, sys.exit(2), "
    "os._exit(3); SIGTERM handlers only 'ignore'",
    offers=_LIFECYCLE_OFFERS,
    args={"sys_exit": (2,), "os_exit": (3,), "install_sigterm": ("ignore",)},
)
SMALL = Scope(
    "small",
    "the process/thread/handle life-cycle and the exit sequences: API calls, target return or raise, "
    "threads; no signals from outside, SIGTERM handlers, sys.exit, os._exit or main-thread blocks",
    offers=_SMALL_OFFERS,
)
EXIT = Scope(
    "exit",
    "the exit sequences only: targets return, threads start and finish, children are created, started, "
    "terminated and polled with join(), queues are put into, read and cancel_join_thread()ed",
    offers=_EXIT_OFFERS,
)
SCOPES: dict[str, Scope] = {s.name: s for s in (FULL, LIFECYCLE, SMALL, EXIT)}


def scopes_of(model: Model | None = None) -> dict[str, Scope]:
    """The known scopes with what ``model``'s extensions add (``ScopeDef``): new scopes, and events offered in known ones."""
    out = dict(SCOPES)
    for added in model.scopes if model is not None else ():
        args = dict(added.args)
        known = out.get(added.name)
        if known is None:
            out[added.name] = Scope(added.name, added.doc, frozenset(added.offers), args)
        else:
            grown = known.with_offers(frozenset(added.offers))
            out[added.name] = Scope(grown.name, grown.doc, grown.offers, {**grown.args, **args})
    return out


def scope(name: str, model: Model | None = None) -> Scope:
    """The scope ``name``, as ``model``'s extensions leave it."""
    known = scopes_of(model)
    try:
        return known[name]
    except KeyError:
        raise ModelError(f"unknown scope {name!r}; choose one of {', '.join(known)} (an extension may declare more)") from None


def actions(engine: Engine, system: System, bounds: Bounds, chosen: Scope) -> Iterator[Action]:
    """The program and environment actions ``chosen`` offers in ``system``."""
    for action in engine.candidates(system, bounds, chosen.excluded(engine.spec), applicable=True):
        if chosen.allows(action):
            yield action
