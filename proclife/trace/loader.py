"""The folder put first on PYTHONPATH: a ``sitecustomize`` and a standalone copy of the observer.

The observer (``runtime/observer.py``) imports nothing of proclife, so a copy of the file is a
complete module: the traced program's interpreter, whatever it is, needs no proclife install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from proclife.runtime import observer
from proclife.trace import sitecustom

ENV_PASSED_OVER = (observer.ENV_SINK, observer.ENV_FAMILIES, observer.ENV_STACKS)


def prepare_site(folder: Path) -> Path:
    """Fill ``folder`` with ``sitecustomize.py`` and the observer; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sitecustom.__file__, folder / "sitecustomize.py")
    shutil.copyfile(observer.__file__, folder / f"{sitecustom.OBSERVER_MODULE}.py")
    return folder


def environment(site: Path, sink: Path, base: Mapping[str, str], stacks: Path | None = None) -> dict[str, str]:
    """``base`` with the site folder first on PYTHONPATH and the sink named for every process
    (and the folder of their stack dumps, when asked for)."""
    env = {key: value for key, value in base.items() if key not in ENV_PASSED_OVER}
    paths = [str(site.resolve())]
    if base.get("PYTHONPATH"):
        paths.append(base["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[observer.ENV_SINK] = str(sink.resolve())
    if stacks is not None:
        env[observer.ENV_STACKS] = str(stacks.resolve())
    return env
