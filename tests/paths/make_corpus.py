"""Writes the corpus of paths in tests/paths/: ``python tests/paths/make_corpus.py``.

- ``plan-*``: every run of the committed directed plans of this Python (fork, spawn, forkserver);
- ``violation-*`` and ``finding-*``: what the explorer finds for the base model and the examples;
- ``random-*``: walks of the model from a fixed seed, with exit arguments beyond the explorer's
  domains (``sys.exit(3.5)``, ``os._exit(256)``, ``sys.exit([1, 2])``).

``index.json`` says, for each file, where it came from, the extension it needs and the start
methods under which the model allows it (tests/test_paths.py checks both ways).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from proclife.conformance.plans import plan_for
from proclife.model.core.engine import Bounds, Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import load
from proclife.model.core.semantics import NO_ARG, Action
from proclife.model.core.system import START_METHODS, Config, System
from proclife.model.explore.explorer import Explorer
from proclife.model.explore.scopes import scope
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile
from proclife.paths.walk import drivable_steps, predict_path

HERE = Path(__file__).resolve().parent
SEED = 12
RANDOM_PATHS = 24
# Values of any JSON type for the end events, each a different road to the exit status.
EXIT_ARGS = {"sys_exit": (7, 3.5, [1, 2], {"code": 4}, "text", None, -1, 256, True),
             "os_exit": (42, 256, -1, 3.5, None, "x", 2**31, True)}
EXAMPLES = {"": None, "early_exit": "examples.early_exit:EXTENSION"}


def engine(method: str, extend: str | None = None) -> Engine:
    model = load((extend,) if extend else (), base=model_of(default_profile(method)))
    return Engine(model.spec, model.semantics, Config(start_method=method, python=sys.version_info[:2]))  # type: ignore[arg-type]


def allowed_under(actions: list[Action], extend: str | None) -> list[str]:
    out = []
    for method in START_METHODS:
        try:
            predict_path(engine(method, extend), actions)
        except ModelError:
            continue
        out.append(method)
    return out


def random_walk(rng: random.Random, method: str) -> list[Action]:
    e = engine(method)
    system = System.initial()
    path: list[Action] = []
    for _ in range(rng.randint(4, 14)):
        choices = [a for a, _ in e.enabled(system, Bounds(2, 1, 2)) if e.event(a.event).drive is not None]
        if not choices:
            break
        action = rng.choice(choices)
        if action.event in EXIT_ARGS and action.arg is not NO_ARG:
            action = Action.from_json({**action.as_json(), "arg": rng.choice(EXIT_ARGS[action.event])})
        outcomes = e.predict(system, action)
        path.append(action)
        system = rng.choice(outcomes).system
    return path


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    found: dict[str, tuple[str, str | None, list[Action]]] = {}
    for method in START_METHODS:
        for k, run in enumerate(plan_for(engine(method), Bounds()).runs, 1):
            if run not in [p for _, _, p in found.values()]:
                found[f"plan-{method}-{k:03}"] = (f"the committed directed plan of {method}", None, run)
    for name, extend in EXAMPLES.items():
        result = Explorer(load((extend,) if extend else ()), Bounds(2, 1, 2), scope=scope("exit")).run()
        tag = f"-{name}" if name else ""
        for v in result.violations:
            found[f"violation{tag}-{v.invariant}"] = (f"explore --scope exit: violation of {v.invariant}", extend,
                                                       [s.action for s in v.path])
        for hit in result.findings:
            found[f"finding{tag}-{hit.finding.name}"] = (f"explore --scope exit: finding {hit.finding.name}", extend,
                                                          [s.action for s in hit.path])
    rng = random.Random(SEED)
    for k in range(1, RANDOM_PATHS + 1):
        found[f"random-{k:02}"] = (f"a random walk of the model (seed {SEED})", None, random_walk(rng, "fork"))
    index = {}
    for name, (source, extend, actions) in sorted(found.items()):
        steps = drivable_steps(engine("fork", extend), actions)
        (HERE / f"{name}.json").write_text(json.dumps([a.as_json() for a in steps]) + "\n")
        index[name] = {"source": source, "extend": extend, "start_methods": allowed_under(steps, extend)}
    (HERE / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {len(index)} paths to {HERE}")


if __name__ == "__main__":
    main()
