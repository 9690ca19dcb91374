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
from proclife.model.core.extend import Extension, Model, apply, base_model, resolve
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


def registry() -> dict[str, Profile]:
    from proclife.model.profiles.variants import PROFILES

    return {p.name: p for p in PROFILES}


def resolve_profile(name: str) -> Profile:
    """A profile by name (``cpython``, ``billiard``, ...) or ``module:attr`` naming a Profile."""
    known = registry()
    if name in known:
        return known[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        import importlib

        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ModelError(f"--profile {name!r}: cannot load it ({exc})") from None
        if isinstance(obj, Profile):
            return obj
        if isinstance(obj, Extension):
            return Profile(obj.name, obj.doc, (Deviation(obj.name, obj.doc, obj.source or Source(name, "extension"), obj),))
        raise ModelError(f"--profile {name!r} is a {type(obj).__name__}, not a proclife.model.profiles.profile.Profile")
    raise ModelError(f"unknown profile {name!r}; use one of {', '.join(known)} or module:attr")


def default_profile(impl_name: str, optimize: bool = False) -> Profile:
    """The profile an implementation is checked against unless ``--profile`` says otherwise."""
    head = impl_name.partition("/")[0]
    for profile in registry().values():
        if head in profile.implementations:
            return registry()["cpython-O"] if optimize and profile.name == "cpython" else profile
    return registry()["cpython-O" if optimize else "cpython"]


__all__ = ["Deviation", "Profile", "default_profile", "model_of", "registry", "resolve", "resolve_profile"]
