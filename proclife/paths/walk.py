"""What the model predicts along a path, without starting a process.

Each step is taken from every system the model allows after the steps before it (where the
model branches, reality picks one; a path does not say which), and settled as the harness
settles it. A step the model does not allow from any of them is refused, named.
"""

from __future__ import annotations

from dataclasses import dataclass

from proclife.model.core.actors import may_act
from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.errors import ModelError
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import System

EVERYTHING = Bounds(99, 99, 99)  # a path's own steps bound it


@dataclass(frozen=True)
class Outcome:
    """One allowed outcome of a step: what the caller sees, the rules taken, the system after."""

    observed: str
    rules: tuple[str, ...]
    system: System
    before: System

    def changes(self) -> list[str]:
        """The processes this outcome changed (or made), one line each, as ``System.describe`` shows them."""
        old = self.before.describe().splitlines()
        return [f"P{pid} {line}" if not line.startswith("P") else line
                for pid, line in enumerate(self.system.describe().splitlines())
                if pid >= len(old) or old[pid] != line]


@dataclass(frozen=True)
class StepPrediction:
    """A step of the path and every outcome the model allows for it."""

    number: int
    action: Action
    before: tuple[System, ...]
    outcomes: tuple[Outcome, ...]

    @property
    def branches(self) -> bool:
        return len(self.outcomes) > 1


def drivable_steps(engine: Engine, actions: list[Action]) -> list[Action]:
    """The steps a run performs: internal ones (the model's own progress) happen by themselves."""
    return [a for a in actions if engine.event(a.event).drive is not None]


def offered(engine: Engine, system: System, action: Action) -> bool:
    """The model offers the action here: its event, pid and thread (any argument of its type), its actor."""
    event = engine.event(action.event)
    probe = action._replace(arg=event.domains[0][0] if event.domains else NO_ARG, actor=None)
    if probe not in set(engine.candidates(system, EVERYTHING)):
        return False
    if action.actor is None:
        return True
    acting = system.procs[action.pid].parent if event.machine == "handle" else action.pid
    return acting is not None and may_act(system, acting, event.by, action.actor)


def predict_path(engine: Engine, actions: list[Action], label: str = "the path") -> list[StepPrediction]:
    """Every step's allowed outcomes, from every system the steps before it may have left."""
    systems: tuple[System, ...] = (System.initial(),)
    out: list[StepPrediction] = []
    for number, action in enumerate(actions, 1):
        outcomes: dict[tuple[str, tuple[str, ...], System], Outcome] = {}
        for system in systems:
            if not offered(engine, system, action):
                continue
            try:
                found: list[Transition] = engine.predict(system, action)
            except ModelError as exc:
                raise ModelError(f"{label}: step {number}, {action.describe()}: {exc}") from None
            for t in found:
                outcomes.setdefault((t.observed, t.rules, t.system), Outcome(t.observed, t.rules, t.system, system))
        if not outcomes:
            raise ModelError(f"{label}: step {number}, {action.describe()}: not possible in the model at that point; "
                             f"check the pids and threads (created in order from 0) and the --extend/--profile, "
                             f"--start-method and --python it was made with")
        out.append(StepPrediction(number, action, systems, tuple(outcomes.values())))
        systems = tuple(dict.fromkeys(o.system for o in outcomes.values()))
    return out
