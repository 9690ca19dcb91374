"""Implementation profiles: the base model plus a declared set of deviations.

A profile is how one implementation of the multiprocessing API (or one way of running it,
like ``python -O``) departs from CPython's standard library. Each deviation is an
``Extension`` (the mechanism researchers use) with its own source, so a profile can be
taken apart: ``model_of(profile, without=...)`` is the profile minus one deviation, which
the tests use to show that every deviation is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Extension, Model, apply, base_model
from proclife.model.core.spec import Source


@dataclass(frozen=True)
class Deviation:
    """One way an implementation departs from the base model, with the evidence for it."""

    id: str
    doc: str
    source: Source
    change: Extension


@dataclass(frozen=True)
class Profile:
    """A named set of deviations, and the implementations it describes by default."""

    name: str
    doc: str
    deviations: tuple[Deviation, ...] = ()
    implementations: tuple[str, ...] = ()

    def deviation(self, ident: str) -> Deviation:
        for d in self.deviations:
            if d.id == ident:
                return d
        known = ", ".join(d.id for d in self.deviations) or "none"
        raise ModelError(f"profile {self.name!r} has no deviation {ident!r}; it has: {known}")


def model_of(profile: Profile, base: Model | None = None, without: str | None = None) -> Model:
    """The base model with every deviation of ``profile`` applied (except ``without``)."""
    if without is not None:
        profile.deviation(without)
    model = base or base_model()
    for d in profile.deviations:
        if d.id != without:
            model = apply(model, d.change)
    return model


__all__ = ["Deviation", "Profile", "model_of"]
