"""Copied into a traced run's site folder as ``sitecustomize.py``: loads the observer, then the user's own.

Standard library only: it runs in the traced program's interpreter, which needs no proclife.
``site`` imports it at startup in every Python process of the run (PYTHONPATH names its
folder). It installs the observer copied beside it (``_proclife_observer``) from
PROCLIFE_OBSERVER, takes its folder off ``sys.path`` so that the program sees the path it would
have seen, then runs the next ``sitecustomize`` on ``sys.path``, as ``site`` would have without
it. An observer that cannot install is reported on stderr; the program runs anyway.

The first interpreter of the run writes the bytecode of the observer and of this file into the
site folder (the run's own, removed with it), even under PYTHONDONTWRITEBYTECODE: otherwise
every spawned or forkserver interpreter would compile the observer's source again, about 15 ms
of each one's start-up. The bytecode is the interpreter's own (its magic number in the name), so
a run mixing interpreters compiles once per interpreter; the tracer keeps it for later runs
(``proclife.trace.loader``), which then compile nothing.
"""

import importlib.machinery
import os
import sys

# importlib.util's two functions, from the import system's own modules (always loaded): importing
# importlib.util itself (and contextlib with it) would cost every traced interpreter about 3 ms
from importlib._bootstrap import module_from_spec
from importlib._bootstrap_external import cache_from_source

OBSERVER_MODULE = "_proclife_observer"


def _install() -> None:
    try:
        observer = importlib.import_module(OBSERVER_MODULE)
        observer.install_from_environment()
    except Exception as exc:  # the program must run even when it cannot be observed
        sys.stderr.write(f"proclife trace: the observer did not install in pid {os.getpid()}: {exc}\n")


def _compile_once(folder: str) -> None:
    """Write the bytecode of the observer and of this file beside them, unless it is there."""
    for name in (OBSERVER_MODULE, "sitecustomize"):
        source = os.path.join(folder, name + ".py")
        cached = cache_from_source(source)
        if os.path.exists(cached):
            continue
        import py_compile

        try:  # written to a temporary name, then renamed: interpreters starting at once never read half a file
            # (unchecked: the tracer keeps it for later runs of the same sources, loader.keep_bytecode)
            py_compile.compile(source, cfile=cached, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        except (OSError, py_compile.PyCompileError):
            return  # read-only or full: each interpreter compiles the source, as it would have anyway


def _later_entries(folder: str) -> list[str]:
    """The entries of sys.path after this folder (all of them if it is not there), and drop it."""
    found = [i for i, entry in enumerate(sys.path) if os.path.abspath(entry or os.curdir) == folder]
    later = sys.path[found[0] + 1:] if found else list(sys.path)
    for index in reversed(found):
        del sys.path[index]
    return later


def _chain(folder: str) -> None:
    """Run the user's own sitecustomize, if one is on sys.path after this folder."""
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _later_entries(folder))
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    _compile_once(os.path.dirname(os.path.abspath(__file__)))
    _install()
    _chain(os.path.dirname(os.path.abspath(__file__)))
