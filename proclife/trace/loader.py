"""The folder put first on PYTHONPATH: a ``sitecustomize`` and a standalone copy of the observer.

The observer (``runtime/observer.py``) imports nothing of proclife, so a copy of the file is a
complete module: the traced program's interpreter, whatever it is, needs no proclife install.

The bytecode the run's first interpreter compiles (``sitecustom._compile_once``: about 40 ms for
the observer, a tenth of a run of 200 forked processes) is kept after the run in a cache keyed
by the two sources (``keep_bytecode``) and put into the next runs' site folders
(``prepare_site``): a run compiles only when the observer changed or its interpreter is new.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from proclife.runtime import observer
from proclife.runtime.observer_filter import filter_environment
from proclife.trace import sitecustom

ENV_PASSED_OVER = (observer.ENV_SINK, observer.ENV_FAMILIES, observer.ENV_STACKS)


SOURCES = {"sitecustomize": sitecustom.__file__, sitecustom.OBSERVER_MODULE: observer.__file__}
PYCACHE = "__pycache__"


def prepare_site(folder: Path) -> Path:
    """Fill ``folder`` with ``sitecustomize.py`` and the observer, and the bytecode kept from
    earlier runs for these sources; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in SOURCES.items():
        shutil.copyfile(source, folder / f"{name}.py")
    kept = bytecode_cache()
    if kept.is_dir():
        with contextlib.suppress(OSError):  # (no cache: the run's first interpreter compiles, as it did)
            (folder / PYCACHE).mkdir(exist_ok=True)
            for pyc in kept.glob("*.pyc"):
                shutil.copyfile(pyc, folder / PYCACHE / pyc.name)
    return folder


def bytecode_cache() -> Path:
    """The folder of the bytecode compiled from these sources, by any interpreter (its tag in each
    file's name): ``$XDG_CACHE_HOME/proclife/observer-bytecode/<hash of the sources>``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "proclife" / "observer-bytecode" / _sources_hash()


@functools.cache
def _sources_hash() -> str:
    """The two sources' hash, read once per process (a run asks for it before and after)."""
    digest = hashlib.sha256()
    for name, source in sorted(SOURCES.items()):
        digest.update(name.encode() + b"\0" + Path(source).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def keep_bytecode(folder: Path) -> None:
    """Keep the bytecode a run's interpreters compiled in ``folder`` for the next runs. Only files
    compiled without a source check (``sitecustom._compile_once`` writes them so: the cache's key is
    the sources' hash) and new to the cache are kept, each written whole (renamed into place)."""
    kept = bytecode_cache()
    for pyc in (folder / PYCACHE).glob("*.pyc") if (folder / PYCACHE).is_dir() else ():
        if pyc.name.split(".")[0] not in SOURCES or (kept / pyc.name).exists() or not _unchecked_hash(pyc):
            continue
        with contextlib.suppress(OSError):  # unwritable: the next run compiles again
            kept.mkdir(parents=True, exist_ok=True)
            partial = kept / f".{pyc.name}.{os.getpid()}"
            shutil.copyfile(pyc, partial)
            os.replace(partial, kept / pyc.name)


def _unchecked_hash(pyc: Path) -> bool:
    """A pyc whose header says hash-based, unchecked (PEP 552: flags 0b01)."""
    try:
        with pyc.open("rb") as handle:
            header = handle.read(8)
    except OSError:
        return False
    return len(header) == 8 and int.from_bytes(header[4:8], "little") == 0b01


def environment(site: Path, sink: Path, base: Mapping[str, str], stacks: Path | None = None) -> dict[str, str]:
    """``base`` with the site folder first on PYTHONPATH and the sink named for every process
    (and the folder of their stack dumps, when asked for)."""
    env = {key: value for key, value in base.items() if key not in ENV_PASSED_OVER}
    paths = [str(site.resolve())]
    if base.get("PYTHONPATH"):
        paths.append(base["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[observer.ENV_SINK] = str(sink.resolve())
    env = filter_environment(env)
    if stacks is not None:
        env[observer.ENV_STACKS] = str(stacks.resolve())
    return env
