"""Directed runs that end a process every way its end event can: each exit status gets observed.

The directed plan covers each rule once, with whichever argument its search met first; but
one rule, ``sys.exit(arg)``'s, stands for arguments that reach the exit status by different
code paths (None, an int, True, a text), and an implementation can break one of them alone.
So for every end event and each of its arguments, for the main program and for a child, that
the plan never used, there is a run: the plan's shortest prefix that ended such a process,
ending it that way instead. Likewise each SIGTERM disposition a child can start with: the main
program installs it, then the plan's shortest start of a child (whose agent reports the
disposition it found in its hello). Derived from the plan when a check runs, so the committed
plans (and their keys) stay as the search found them.
"""

from __future__ import annotations

from proclife.conformance.plans import unperformable_step
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import MAIN

DISPOSITION_EVENT = "install_sigterm"  # the event that sets the disposition a child's start carries over


def _ends(engine: Engine, action: Action) -> bool:
    drive = engine.spec.event(action.event).drive
    return drive is not None and drive.how == "end"


def exit_variants(engine: Engine, bounds: Bounds, runs: list[list[Action]]) -> list[list[Action]]:
    """A run for each (end event, main program or child, argument) the plan's runs leave out."""
    taken: set[tuple[str, bool, str]] = set()  # repr of the argument: True and 1 are different exits
    before_end: dict[bool, tuple[list[Action], Action]] = {}  # the shortest way to a main program / child ending
    for run in runs:
        for index, action in enumerate(run):
            if not _ends(engine, action):
                continue
            main = action.pid == MAIN
            taken.add((action.event, main, repr(action.arg)))
            best = before_end.get(main)
            if best is None or index < len(best[0]):
                before_end[main] = (run[:index], action)
    out: list[list[Action]] = []
    endings = [e for e in engine.spec.events if e.drive is not None and e.drive.how == "end"]
    for main, (prefix, ending) in sorted(before_end.items()):
        for event in endings:
            for arg in event.domains[0] if event.domains else (NO_ARG,):
                if (event.name, main, repr(arg)) in taken:
                    continue
                variant = [*prefix, ending._replace(event=event.name, arg=arg)]
                if unperformable_step(engine, bounds, variant, set()) is None:
                    out.append(variant)
    return out


def disposition_variants(engine: Engine, bounds: Bounds, runs: list[list[Action]]) -> list[list[Action]]:
    """For each disposition the main program can install, a run that then starts a child."""
    event = next((e for e in engine.spec.events if e.name == DISPOSITION_EVENT and e.domains), None)
    starts = [run[: index + 1] for run in runs for index, action in enumerate(run)
              if action.event == "start" and action.pid != MAIN and all(a.pid == MAIN or a is action for a in run[:index])]
    if event is None or not starts:
        return []
    start = min(starts, key=len)
    out: list[list[Action]] = []
    for arg in event.domains[0]:
        variant = [Action(DISPOSITION_EVENT, MAIN, None, arg), *start]
        if unperformable_step(engine, bounds, variant, set()) is None:
            out.append(variant)
    return out
