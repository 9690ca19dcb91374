"""Which actions the explorer (and the SPIN export) takes: the same set for both engines.

Every event of the spec is offered by default; a profile only drops events or narrows an
argument domain, so that a bounded run stays small. What a profile restricts is printed
with every summary, because a property proved under a restriction is proved only there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.semantics import Action
from proclife.model.core.system import System


@dataclass(frozen=True)
class Profile:
    """Events never taken (``drop``) and narrowed argument domains (``args``)."""

    name: str
    doc: str
    drop: frozenset[str] = frozenset()
    args: dict[str, tuple[object, ...]] = field(default_factory=dict)

    def allows(self, action: Action) -> bool:
        if action.event in self.drop:
            return False
        domain = self.args.get(action.event)
        return domain is None or action.arg in domain

    def describe(self) -> str:
        parts = [f"not taken: {', '.join(sorted(self.drop))}"] if self.drop else []
        parts += [f"{e} only with {', '.join(map(repr, d))}" for e, d in sorted(self.args.items())]
        return "; ".join(parts) or "every event, every argument"


FULL = Profile("full", "every event of the spec with every argument of its domain")
LIFECYCLE = Profile(
    "lifecycle",
    "signals from outside only SIGTERM (the handle's terminate()/kill() still signal); exit codes "
    "one per class: return 0, raise 1, sys.exit(2), os._exit(3); SIGTERM handlers only 'ignore'",
    drop=frozenset({"sigkill", "sigint"}),
    args={"sys_exit": (2,), "os_exit": (3,), "install_sigterm": ("ignore",)},
)
SMALL = Profile(
    "small",
    "lifecycle without signals from outside, SIGTERM handlers, sys.exit, os._exit and main-thread "
    "blocks: the process/thread/handle life-cycle and the exit sequences only",
    drop=frozenset({"sigterm", "sigkill", "sigint", "install_sigterm", "sys_exit", "os_exit", "block",
                    "release", "join_current"}),
)
EXIT = Profile(
    "exit",
    "the exit sequences only: targets return, threads start and finish, children are created, started, "
    "terminated and polled with join(); no signals from outside, no blocks, no other calls",
    drop=frozenset({"sigterm", "sigkill", "sigint", "install_sigterm", "sys_exit", "os_exit", "block",
                    "release", "join_current", "thread_block", "thread_release", "target_raise", "kill",
                    "close", "set_daemon", "is_alive", "exitcode", "pid", "sentinel", "join_timeout"}),
)
PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, LIFECYCLE, SMALL, EXIT)}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ModelError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def actions(engine: Engine, system: System, bounds: Bounds, prof: Profile) -> Iterator[Action]:
    """The program and environment actions the profile takes in ``system``."""
    for action in engine.candidates(system, bounds, prof.drop):
        if prof.allows(action):
            yield action
