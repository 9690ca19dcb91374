"""The temporary folders multiprocessing made in processes the tracer killed, removed once they are dead.

``util.get_temp_dir`` makes one ``pymp-*`` folder per process that needs one (a forkserver's
socket, a listener's address) and registers a finalizer that removes it when the process exits.
A process killed by SIGKILL runs no finalizer: its folder would stay in the temporary directory
for good. The observer reports each folder as it is made (``temp_dir``); once the tree the tracer
(or its keeper) killed is dead, the folders of the processes it killed are removed. Only those:
a folder left by a process that ended by itself is the program's own doing, and stays.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

PREFIX = "pymp-"  # the prefix util.get_temp_dir gives tempfile.mkdtemp
_MARK = b'"kind":"temp_dir"'


def temp_dirs_made(sink: Path, pids: set[int]) -> list[str]:
    """The folders ``util.get_temp_dir`` made in ``pids``, as their ``temp_dir`` events name them."""
    made = []
    try:
        with open(sink, "rb") as events:
            for line in events:
                if _MARK not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut short by the kill
                path = event.get("path")
                if event.get("pid") in pids and isinstance(path, str):
                    made.append(path)
    except FileNotFoundError:
        return []
    return made


def remove_left(sink: Path, killed: set[int]) -> list[str]:
    """Remove the ``pymp-*`` folders the killed processes made and left; the ones removed."""
    removed = []
    for path in temp_dirs_made(sink, killed):
        if not os.path.basename(path).startswith(PREFIX) or os.path.islink(path) or not os.path.isdir(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append(path)
    return removed
