"""Output paths the user names: checked before a long run starts, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from proclife.exits import USAGE


class OutputError(Exception):
    """An output path that cannot be written; the command line prints it and exits with 2."""

    exit_status = USAGE


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_file(path: Path, option: str) -> None:
    """The file can be created or replaced: its folder exists and is writable."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; name a file")
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: folder {folder} is not writable; choose another path")


def check_folder(path: Path, option: str) -> None:
    """The folder exists and is writable, or could be created where it would go."""
    base = _nearest_existing(path)
    if not base.is_dir():
        raise OutputError(f"{option} {path}: {base} is not a folder; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: {base} is not writable; choose another path")


def write_text(path: Path, text: str, option: str) -> None:
    """Write beside the target, then rename into place: a reader never sees half a file."""
    check_file(path, option)
    folder = path.parent if str(path.parent) else Path(".")
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(staged, path)
    except OSError as exc:
        Path(staged).unlink(missing_ok=True)
        raise OutputError(f"{option} {path}: {exc.strerror or exc}; choose another path") from None
