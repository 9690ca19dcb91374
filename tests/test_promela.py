"""SPIN and the explorer count the same reachable systems on small bounds."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from model.base import BASE
from model.engine import Bounds
from model.errors import ModelError
from model.explore import Explorer
from model.extend import Extension, base_model, load
from model.profiles import FULL, LIFECYCLE, SMALL, Profile
from model.promela import generate, run_spin

needs_spin = pytest.mark.skipif(shutil.which("spin") is None or shutil.which("gcc") is None, reason="no spin/gcc")


@needs_spin
@pytest.mark.parametrize(("procs", "threads", "prof"), [
    (1, 0, FULL), (1, 1, SMALL), (1, 0, LIFECYCLE), (0, 1, FULL),
    pytest.param(2, 0, SMALL, marks=pytest.mark.slow),
])
def test_spin_counts_the_same_states(procs: int, threads: int, prof: Profile) -> None:
    bounds = Bounds(procs, threads, 2)
    ours = Explorer(base_model(), bounds, profile=prof, symmetry=False).run()
    spin = run_spin(base_model(), bounds, prof)
    assert spin.errors == 0
    assert spin.states == ours.stats.states
    assert spin.transitions == ours.stats.transitions + 1  # pan also counts its start-up step


def test_an_extension_guard_without_promela_is_refused() -> None:
    rule = replace(BASE.rule("process.block"), when=("moon_is_full",))
    ext = Extension("moon", "a guard SPIN cannot know", rules=(rule,), guards={"moon_is_full": lambda s, c: True})
    with pytest.raises(ModelError, match=r"moon_is_full.*no Promela counterpart"):
        generate(load([ext]), Bounds(1, 0, 2), FULL)
