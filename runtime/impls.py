"""Which ``multiprocessing`` implementation a run drives, named by a short spec string.

Every agent re-resolves the same string, so a child started by spawn or forkserver (a fresh
interpreter) builds its own children with the same implementation and start method.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from proclife.runtime.errors import ImplementationError

TYPE_CHECKING = False  # the agent imports this module: typing and dataclasses cost every fresh interpreter
if TYPE_CHECKING:
    from typing import Any

STDLIB_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")
LIBRARIES: tuple[str, ...] = ("billiard", "multiprocess")
ACCEPTED = (
    "fork | spawn | forkserver | billiard[/fork|/spawn|/forkserver] | "
    "multiprocess[/fork|/spawn|/forkserver] | module:attribute (an object with .Process)"
)


class Implementation:
    """A resolved implementation: its name, the spec it came from, and how to get its context.

    ``family``: whose machinery the in-process observer hooks (``observer.FAMILIES``)."""

    __slots__ = ("family", "loader", "name", "spec", "start_method")

    def __init__(self, name: str, spec: str, start_method: str, loader: Callable[[], Any],
                 family: str = "multiprocessing") -> None:
        self.name = name
        self.spec = spec
        self.start_method = start_method
        self.loader = loader
        self.family = family

    def __repr__(self) -> str:
        return f"Implementation({self.spec!r}, start method {self.start_method}, family {self.family})"

    def context(self) -> Any:
        """An object with the multiprocessing context API (at least ``.Process``)."""
        return self.loader()


def _fail(spec: str, why: str) -> ImplementationError:
    return ImplementationError(f"--impl {spec!r}: {why}; accepted forms: {ACCEPTED}")


def _library(spec: str, name: str, method: str | None) -> Implementation:
    try:
        lib = importlib.import_module(name)
    except ImportError as exc:
        raise _fail(spec, f"cannot import {name} ({exc}); install it with `pip install {name}`") from None
    methods = list(lib.get_all_start_methods())
    # The first method listed is the library's default on this platform (documented).
    chosen = method or methods[0]
    if chosen not in methods:
        raise _fail(spec, f"{name} on this platform offers only {', '.join(methods)}")
    return Implementation(name, spec, chosen, lambda: lib.get_context(chosen), family=name)


def _attribute(spec: str) -> Implementation:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise _fail(spec, "a module:attribute spec needs both parts")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _fail(spec, f"cannot import module {module_name!r} ({exc})") from None
    except (Exception, SystemExit) as exc:  # the user's module failed: theirs to fix, not a crash of ours
        raise _fail(spec, f"importing module {module_name!r} raised {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _fail(spec, f"module {module_name!r} has no attribute {attr!r}") from None
    if not hasattr(target, "Process"):
        raise _fail(spec, f"{spec} has no attribute 'Process'")
    getter = getattr(target, "get_start_method", None)
    try:
        method = str(getter()) if callable(getter) else "fork"
    except Exception as exc:
        raise _fail(spec, f"its get_start_method() failed: {type(exc).__name__}: {exc}") from None
    obj = target
    return Implementation(spec, spec, method, lambda: obj)


def resolve_impl(spec: str) -> Implementation:
    """Turn a spec string into an ``Implementation``; anything else is an ``ImplementationError``."""
    text = spec.strip()
    if text in STDLIB_METHODS:
        import multiprocessing

        return Implementation(text, spec, text, lambda: multiprocessing.get_context(text))
    head, sep, method = text.partition("/")
    if head in LIBRARIES:
        if sep and method not in STDLIB_METHODS:
            raise _fail(spec, f"unknown start method {method!r}")
        return _library(spec, head, method or None)
    if ":" in text and "/" not in text:
        return _attribute(text)
    raise _fail(spec, "no such implementation")
