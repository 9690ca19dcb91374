"""The observer's C filters (``observer_filter.c``): built once with the machine's C compiler,
kept in the cache, and named to every observed interpreter by PROCLIFE_OBSERVER_FILTER.

Why: where the observer's hooks are a ``sys.setprofile`` function (3.11), that function is
called at every call and return of the program. Written in Python, it costs a call-heavy program
about 8x and a forked child the pages a Python callback touches; the filter drops in C every
event that is not a hooked one, and calls the observer only for those. Its audit hook (any
version) likewise calls the observer only for the audit events it handles, where a Python audit
hook is called at each of the program's (every ``sys._getframe``, for one). It declares the few
stable-ABI layouts it uses instead of including ``Python.h``, so the C compiler alone builds it
(no python3-dev) and one build loads into any CPython 3.11+ (an ``abi3`` module): the traced
program's interpreter need not be proclife's. Without a compiler, or where the build fails, the
observer keeps its Python filter: the same events, slower (tests/test_observer_filter.py).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
from pathlib import Path

from proclife.runtime import observer

SOURCE = Path(__file__).with_name("observer_filter.c")
MODULE_FILE = "_proclife_filter.abi3.so"  # PyInit__proclife_filter; abi3: any CPython 3.x
COMPILER_FLAGS = ("-O2", "-shared", "-fPIC", "-Wall")
BUILD_SECONDS = 60.0


class FilterBuildFailed(Exception):
    """The filter could not be built; the message says why and what the observer does instead."""


def filter_cache() -> Path:
    """``$XDG_CACHE_HOME/proclife/observer-filter/<hash of the source and the machine>``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(SOURCE.read_bytes() + platform.machine().encode()).hexdigest()[:16]
    return Path(base) / "proclife" / "observer-filter" / digest


def compiler() -> list[str] | None:
    """The C compiler's command: ``$CC`` (``ccache gcc`` too), else ``cc`` or ``gcc`` on PATH."""
    named = shlex.split(os.environ.get("CC", ""))
    found = shutil.which(named[0]) if named else (shutil.which("cc") or shutil.which("gcc"))
    return None if found is None else [found, *named[1:]]


def build(folder: Path) -> Path:
    """Build the filter into ``folder`` (whole or not at all: compiled beside, then renamed)."""
    cc = compiler()
    if cc is None:
        raise FilterBuildFailed("no C compiler (cc, gcc or $CC): the observer uses its Python filter, "
                                "slower on 3.11; install gcc (apt-get install gcc) for the C one")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FilterBuildFailed(f"cannot create {folder} ({exc.strerror}): set XDG_CACHE_HOME to a "
                                "writable folder") from None
    target = folder / MODULE_FILE
    partial = folder / f".{MODULE_FILE}.{os.getpid()}"
    try:
        done = subprocess.run([*cc, *COMPILER_FLAGS, "-o", str(partial), str(SOURCE)], capture_output=True,
                              text=True, timeout=BUILD_SECONDS, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise FilterBuildFailed(f"{shlex.join(cc)} did not build {SOURCE.name} within {BUILD_SECONDS:.0f} s") from None
    except OSError as exc:  # it could not be run after all
        raise FilterBuildFailed(f"cannot run {shlex.join(cc)}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise FilterBuildFailed(f"{shlex.join(cc)} failed to build {SOURCE.name} (exit {done.returncode}): "
                                f"{done.stderr.strip()[-500:]}")
    try:
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise FilterBuildFailed(f"cannot write {target} ({exc.strerror}): set XDG_CACHE_HOME to a writable "
                                "folder") from None
    return target


@functools.cache
def built_filter() -> Path | None:
    """The filter, built now if the cache has none; None where it cannot be built (the observer
    then uses its Python filter). Once per process: a failed build is not retried in it."""
    target = filter_cache() / MODULE_FILE
    if target.is_file():
        return target
    with contextlib.suppress(FilterBuildFailed):
        return build(target.parent)
    return None


def filter_environment(base: dict[str, str]) -> dict[str, str]:
    """``base`` with PROCLIFE_OBSERVER_FILTER naming the built filter, unless ``base`` names one
    already (an empty value keeps the Python filter)."""
    if observer.ENV_FILTER in base:
        return base
    built = built_filter()
    return base if built is None else {**base, observer.ENV_FILTER: str(built)}
