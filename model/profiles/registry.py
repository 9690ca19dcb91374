"""Finding a profile: by name among those proclife ships, or ``module:attr`` naming one of the user's.

Kept apart from ``profile`` (what a profile is) and ``variants`` (the profiles themselves), so
that neither needs the other lazily.
"""

from __future__ import annotations

from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Extension, user_attribute
from proclife.model.core.spec import Source
from proclife.model.profiles.profile import Deviation, Profile
from proclife.model.profiles.variants import PROFILES


def registry() -> dict[str, Profile]:
    """Every profile proclife ships, by name."""
    return {p.name: p for p in PROFILES}


def resolve_profile(name: str) -> Profile:
    """A profile by name (``cpython``, ``billiard``, ...) or ``module:attr`` naming a Profile."""
    known = registry()
    if name in known:
        return known[name]
    if ":" in name:
        # Found as an extension is: the current folder importable, the module's own errors named.
        obj = user_attribute("--profile", name, "mymodule:PROFILE")
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


__all__ = ["default_profile", "registry", "resolve_profile"]
