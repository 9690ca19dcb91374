"""Copied into a traced run's site folder as ``sitecustomize.py``: loads the observer, then the user's own.

Standard library only: it runs in the traced program's interpreter, which needs no proclife.
``site`` imports it at startup in every Python process of the run (PYTHONPATH names its
folder). It installs the observer copied beside it (``_proclife_observer``) from
PROCLIFE_OBSERVER, takes its folder off ``sys.path`` so that the program sees the path it would
have seen, then runs the next ``sitecustomize`` on ``sys.path``, as ``site`` would have without
it. An observer that cannot install is reported on stderr; the program runs anyway.
"""

import importlib.machinery
import importlib.util
import os
import sys

OBSERVER_MODULE = "_proclife_observer"


def _install() -> None:
    try:
        observer = importlib.import_module(OBSERVER_MODULE)
        observer.install_from_environment()
    except Exception as exc:  # the program must run even when it cannot be observed
        sys.stderr.write(f"proclife trace: the observer did not install in pid {os.getpid()}: {exc}\n")


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
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    _install()
    _chain(os.path.dirname(os.path.abspath(__file__)))
